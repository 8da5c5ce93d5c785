#include "nn/attention_block.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

namespace {

// A Linear(in, out) layer applied to every pixel of x [N, in, H, W]: a 1x1
// convolution with its [out, in] weight viewed as [out, in, 1, 1].
Tensor pixelwise(const Linear& l, const Tensor& x) {
  return conv2d(x, reshape(l.weight(), {l.out_features(), l.in_features(), 1, 1}), l.bias());
}

// to_q, to_k, to_v and to_out.0 registered on `m` in that order.
void register_projections(Module& m, int64_t q_in, int64_t kv_in, int64_t channels,
                          std::shared_ptr<Linear>& q, std::shared_ptr<Linear>& k, std::shared_ptr<Linear>& v,
                          std::shared_ptr<Linear>& out) {
  q = m.register_module("to_q", std::make_shared<Linear>(q_in, channels));
  k = m.register_module("to_k", std::make_shared<Linear>(kv_in, channels));
  v = m.register_module("to_v", std::make_shared<Linear>(kv_in, channels));
  auto to_out = m.register_module("to_out", std::make_shared<Module>());
  out = to_out->register_module("0", std::make_shared<Linear>(channels, channels));
}

}  // namespace

AttentionBlock::AttentionBlock(int64_t channels, int64_t head_channels, int64_t groups, int64_t context_dim)
    : channels_(channels), head_channels_(head_channels), context_dim_(context_dim) {
  if (channels_ <= 0 || head_channels_ <= 0 || channels_ % head_channels_ != 0)
    throw std::invalid_argument("AttentionBlock: head_channels " + std::to_string(head_channels_) +
                                " must be positive and divide the " + std::to_string(channels_) +
                                " channels");
  if (context_dim_ < 0)
    throw std::invalid_argument("AttentionBlock: context_dim must be >= 0 (0: no cross-attention), got " +
                                std::to_string(context_dim_));
  group_norm_ = register_module("group_norm", std::make_shared<GroupNorm>(groups, channels_));
  register_projections(*this, channels_, channels_, channels_, to_q_, to_k_, to_v_, to_out_);
  if (context_dim_ > 0) {
    norm2_ = register_module("norm2", std::make_shared<GroupNorm>(groups, channels_));
    auto attn2 = register_module("attn2", std::make_shared<Module>());
    register_projections(*attn2, channels_, context_dim_, channels_, q2_, k2_, v2_, out2_);
  }
}

Tensor AttentionBlock::forward(const Tensor& x) { return forward(x, Tensor()); }

Tensor AttentionBlock::forward(const Tensor& x, const Tensor& context) {
  if (x.dim() != 4 || x.size(1) != channels_)
    throw std::invalid_argument("AttentionBlock::forward: x must be [N, " + std::to_string(channels_) +
                                ", H, W], got " + x.desc());
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  if (context_dim_ == 0 && context.defined())
    throw std::invalid_argument("AttentionBlock::forward: context " + context.desc() +
                                " given to a block without cross-attention");
  if (context_dim_ > 0 &&
      (!context.defined() || context.dim() != 3 || context.size(0) != n || context.size(1) != context_dim_ ||
       context.size(2) < 1 || context.dtype() != x.dtype() || context.device() != x.device()))
    throw std::invalid_argument("AttentionBlock::forward: cross-attention needs context [" +
                                std::to_string(n) + ", " + std::to_string(context_dim_) +
                                ", T] with the dtype and device of x " + x.desc() + ", got " +
                                (context.defined() ? context.desc() : "none"));
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_channels_));
  const Shape heads_shape{n * heads(), head_channels_, h * w};
  const Tensor normed = group_norm_->forward(x);
  const Tensor q = reshape(pixelwise(*to_q_, normed), heads_shape);
  const Tensor k = reshape(pixelwise(*to_k_, normed), heads_shape);
  const Tensor v = reshape(pixelwise(*to_v_, normed), heads_shape);
  const Tensor o = attention(q, k, v, scale);
  const Tensor y = add(x, pixelwise(*to_out_, reshape(o, {n, channels_, h, w})));
  if (context_dim_ == 0) return y;

  // Cross-attention: queries from the pixels, keys and values from the T
  // context tokens (the [N, Dc, T] context viewed as a T x 1 image).
  const int64_t tokens = context.size(2);
  const Tensor ctx = reshape(context, {n, context_dim_, tokens, 1});
  const Shape token_heads{n * heads(), head_channels_, tokens};
  const Tensor q2 = reshape(pixelwise(*q2_, norm2_->forward(y)), heads_shape);
  const Tensor k2 = reshape(pixelwise(*k2_, ctx), token_heads);
  const Tensor v2 = reshape(pixelwise(*v2_, ctx), token_heads);
  const Tensor o2 = attention(q2, k2, v2, scale);
  return add(y, pixelwise(*out2_, reshape(o2, {n, channels_, h, w})));
}

}  // namespace ddpm::nn
