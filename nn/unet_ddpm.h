// The layers of the DDPM UNet (UNetConfig::arch == ddpm): diffusers'
// UNet2DModel layout, built and run by nn::UNet (nn/unet.h), which owns the
// parameters under their flat diffusers names (no prefix).
//
// With b = base_channels, ch_l = b * channel_mult[l] (level l of L),
// R = num_res_blocks, D = time_embed_dim and c0 = ch_0:
//   conv_in         Conv2d(in + cond_channels, c0, 3, pad 1)
//   time_embedding  linear_1 Linear(c0, D), linear_2 Linear(D, D); applied as
//                   linear_2(silu(linear_1(sinusoid(t) [N, c0])))
//   class_embedding Embedding(K + 1, D), class-conditional only (added to
//                   the time embedding, as in the simple UNet)
//   class_tokens    Embedding(K + 1, T * D), with cross-attention only
//                   (cross_attention_tokens T > 0, class-conditional): row
//                   k is class k's T tokens of D channels, row K "no class";
//                   column d * T + j is channel d of token j, so the rows
//                   [N, T * D] viewed as [N, D, T] are the channels-first
//                   context with no transpose. Every attention block (down,
//                   mid, up) then has norm2 and attn2 (nn/attention_block.h)
//                   attending to these tokens.
//   down_blocks.l   attentions.j (levels with attention), resnets.j
//                   (j < R; ResBlock(ch_{l-1} or ch_l, ch_l), nn/resblock.h),
//                   downsamplers.0.conv Conv2d(ch_l, ch_l, 3, stride 2, pad 1)
//                   (all but the last level)
//   mid_block       attentions.0, resnets.0 and resnets.1 (ch_{L-1})
//   up_blocks.i     level l = L-1-i: attentions.j, resnets.j (j <= R; each
//                   takes the concatenation [h, skip]), upsamplers.0.conv
//                   Conv2d(ch_l, ch_l, 3, pad 1) (all but the last up block)
//   conv_norm_out   GroupNorm(groups, c0); conv_out Conv2d(c0, in, 3, pad 1)
// Children of a block in diffusers' order (attentions before resnets), so
// named_parameters() lists them as diffusers' state_dict does within a block.
//
// forward(x, emb, context):
//   h = conv_in(x); skips = [h]
//   per level l: R times h = resnet(h, emb), then attention(h) at attention
//     levels, skips += h; then (not the last level) h = downsampler(h),
//     skips += h
//   h = resnets.1(attention(resnets.0(h, emb)), emb)         (mid_block)
//   per up block: R + 1 times h = resnet(cat(h, skips.pop()), emb), then
//     attention at attention levels; then (not the last) h = conv(up(h))
//   return conv_out(silu(conv_norm_out(h)))
// where every attention(h) is attention(h, context): with cross-attention
// the class tokens context = class_tokens(labels) viewed as [N, D, T]
// (tokens()), else undefined.
// Deviation from diffusers: up(h) is upsample_bilinear2d (align_corners=True,
// the engine's only upsampling), not nearest; and the sinusoid is the simple
// UNet's (nn/unet.h: [sin, cos], frequencies over half - 1) rather than
// diffusers' flip_sin_to_cos [cos, sin] over half. Everything else, shapes
// and names included, is UNet2DModel with resnet_time_scale_shift "default",
// mid_block_scale_factor 1, conv down/upsamplers and attention_head_dim =
// head_channels. The class tokens and attn2 are this engine's additions
// (UNet2DModel has no cross-attention; attn2 is named after diffusers'
// BasicTransformerBlock, see nn/attention_block.h for how it differs).
#pragma once

#include <memory>
#include <vector>

#include "nn/attention_block.h"
#include "nn/conv2d.h"
#include "nn/embedding.h"
#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/resblock.h"
#include "nn/unet_config.h"

namespace ddpm::nn {

class DdpmUNetBody {
 public:
  // Registers the layers above on `owner` in the order listed (conv_in,
  // time_embedding, class_embedding, class_tokens, down_blocks, mid_block,
  // up_blocks, conv_norm_out, conv_out). `config` is validated, arch ddpm.
  DdpmUNetBody(Module& owner, const UNetConfig& config);

  // The width of the sinusoid time_embedding takes: c0.
  int64_t sinusoid_width() const { return c0_; }
  // The time embedding [N, D] of the sinusoid [N, c0].
  Tensor embed(const Tensor& sinusoid);
  // With cross-attention: the context [N, D, T] of class labels `ids` (each
  // in [0, num_classes], checked by the caller).
  Tensor tokens(const std::vector<int64_t>& ids);
  // x [N, in + cond_channels, H, W] (H, W multiples of size_multiple()),
  // emb [N, D] (time plus class embedding), context: tokens() with
  // cross-attention, else undefined -> [N, in, H, W].
  Tensor forward(const Tensor& x, const Tensor& emb, const Tensor& context = Tensor());

  // Null when unconditional.
  const std::shared_ptr<Embedding>& class_embedding() const { return class_embedding_; }
  // Whether the attention blocks cross-attend to class tokens.
  bool cross_attention() const { return class_tokens_ != nullptr; }
  // The ResBlocks' dropout masks (nn/resblock.h): training off by default.
  DropoutDraw& dropout_draw() { return draw_; }

 private:
  struct Block {
    std::vector<std::shared_ptr<ResBlock>> resnets;
    std::vector<std::shared_ptr<AttentionBlock>> attentions;  // empty without attention
    std::shared_ptr<Conv2d> resample;                         // down- or upsampler's conv; may be null
  };

  int64_t c0_, d_, tokens_;  // tokens_: T, 0 without cross-attention
  DropoutDraw draw_;         // read by every ResBlock (their index: creation order)
  uint64_t resblocks_ = 0;   // ResBlocks made so far
  std::shared_ptr<Conv2d> conv_in_, conv_out_;
  std::shared_ptr<Linear> linear_1_, linear_2_;
  std::shared_ptr<Embedding> class_embedding_, class_tokens_;  // class_tokens_: null without cross-attention
  std::vector<Block> down_, up_;
  Block mid_;
  std::shared_ptr<GroupNorm> conv_norm_out_;
};

}  // namespace ddpm::nn
