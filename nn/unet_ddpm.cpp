#include "nn/unet_ddpm.h"

#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

namespace {

// A plain container module registered under `name` on `parent`.
std::shared_ptr<Module> child(Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<Module>());
}

}  // namespace

DdpmUNetBody::DdpmUNetBody(Module& owner, const UNetConfig& c) {
  const int64_t levels = c.levels(), r = c.num_res_blocks, d = c.time_embed_dim, g = c.groups;
  auto ch = [&c](int64_t l) { return c.base_channels * c.channel_mult[static_cast<size_t>(l)]; };
  c0_ = ch(0);
  d_ = d;
  tokens_ = c.cross_attention_tokens;
  const int64_t ctx = tokens_ > 0 ? d : 0;  // the attention blocks' context width

  conv_in_ = owner.register_module("conv_in",
                                   std::make_shared<Conv2d>(c.in_channels + c.cond_channels, c0_, 3, 1, 1));
  auto te = child(owner, "time_embedding");
  linear_1_ = te->register_module("linear_1", std::make_shared<Linear>(c0_, d));
  linear_2_ = te->register_module("linear_2", std::make_shared<Linear>(d, d));
  if (c.num_classes > 0)
    class_embedding_ =
        owner.register_module("class_embedding", std::make_shared<Embedding>(c.num_classes + 1, d));
  if (tokens_ > 0)
    class_tokens_ =
        owner.register_module("class_tokens", std::make_shared<Embedding>(c.num_classes + 1, tokens_ * d));

  // The channels of the skip connections, pushed on the way down and popped
  // on the way up as forward() does with the tensors.
  std::vector<int64_t> skips{c0_};
  int64_t cur = c0_;
  auto downs = child(owner, "down_blocks");
  for (int64_t l = 0; l < levels; ++l) {
    auto blk = child(*downs, std::to_string(l));
    auto attns = c.attention_at(l) ? child(*blk, "attentions") : nullptr;
    auto res = child(*blk, "resnets");
    Block b;
    for (int64_t j = 0; j < r; ++j) {
      b.resnets.push_back(res->register_module(
          std::to_string(j), std::make_shared<ResBlock>(cur, ch(l), d, g, c.dropout, &draw_, resblocks_++)));
      cur = ch(l);
      if (attns)
        b.attentions.push_back(attns->register_module(
            std::to_string(j), std::make_shared<AttentionBlock>(cur, c.head_channels, g, ctx)));
      skips.push_back(cur);
    }
    if (l < levels - 1) {
      b.resample = child(*child(*blk, "downsamplers"), "0")
                       ->register_module("conv", std::make_shared<Conv2d>(cur, cur, 3, 2, 1));
      skips.push_back(cur);
    }
    down_.push_back(std::move(b));
  }

  auto mid = child(owner, "mid_block");
  mid_.attentions.push_back(
      child(*mid, "attentions")
          ->register_module("0", std::make_shared<AttentionBlock>(cur, c.head_channels, g, ctx)));
  auto mid_res = child(*mid, "resnets");
  for (const char* j : {"0", "1"})
    mid_.resnets.push_back(mid_res->register_module(
        j, std::make_shared<ResBlock>(cur, cur, d, g, c.dropout, &draw_, resblocks_++)));

  auto ups = child(owner, "up_blocks");
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t l = levels - 1 - i;
    auto blk = child(*ups, std::to_string(i));
    auto attns = c.attention_at(l) ? child(*blk, "attentions") : nullptr;
    auto res = child(*blk, "resnets");
    Block b;
    for (int64_t j = 0; j <= r; ++j) {
      const int64_t skip = skips.back();
      skips.pop_back();
      b.resnets.push_back(res->register_module(
          std::to_string(j),
          std::make_shared<ResBlock>(cur + skip, ch(l), d, g, c.dropout, &draw_, resblocks_++)));
      cur = ch(l);
      if (attns)
        b.attentions.push_back(attns->register_module(
            std::to_string(j), std::make_shared<AttentionBlock>(cur, c.head_channels, g, ctx)));
    }
    if (i < levels - 1)
      b.resample = child(*child(*blk, "upsamplers"), "0")
                       ->register_module("conv", std::make_shared<Conv2d>(cur, cur, 3, 1, 1));
    up_.push_back(std::move(b));
  }

  conv_norm_out_ = owner.register_module("conv_norm_out", std::make_shared<GroupNorm>(g, cur));
  conv_out_ = owner.register_module("conv_out", std::make_shared<Conv2d>(cur, c.in_channels, 3, 1, 1));
}

Tensor DdpmUNetBody::embed(const Tensor& sinusoid) {
  return linear_2_->forward(silu(linear_1_->forward(sinusoid)));
}

Tensor DdpmUNetBody::tokens(const std::vector<int64_t>& ids) {
  // Row n of the embedding holds channel d of token j at column d * T + j:
  // [N, T * D] viewed as [N, D, T].
  return reshape(class_tokens_->forward(ids), {static_cast<int64_t>(ids.size()), d_, tokens_});
}

Tensor DdpmUNetBody::forward(const Tensor& x, const Tensor& emb, const Tensor& context) {
  Tensor h = conv_in_->forward(x);
  std::vector<Tensor> skips{h};
  for (const Block& b : down_) {
    for (size_t j = 0; j < b.resnets.size(); ++j) {
      h = b.resnets[j]->forward(h, emb);
      if (!b.attentions.empty()) h = b.attentions[j]->forward(h, context);
      skips.push_back(h);
    }
    if (b.resample) {
      h = b.resample->forward(h);
      skips.push_back(h);
    }
  }
  h = mid_.resnets[0]->forward(h, emb);
  h = mid_.attentions[0]->forward(h, context);
  h = mid_.resnets[1]->forward(h, emb);
  for (const Block& b : up_) {
    for (size_t j = 0; j < b.resnets.size(); ++j) {
      h = b.resnets[j]->forward(concat({h, skips.back()}, 1), emb);
      skips.pop_back();
      if (!b.attentions.empty()) h = b.attentions[j]->forward(h, context);
    }
    if (b.resample) h = b.resample->forward(upsample_bilinear2d(h, 2));
  }
  return conv_out_->forward(conv_norm_out_->forward_silu(h));
}

}  // namespace ddpm::nn
