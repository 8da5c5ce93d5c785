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
// forward(x, emb):
//   h = conv_in(x); skips = [h]
//   per level l: R times h = resnet(h, emb), then attention(h) at attention
//     levels, skips += h; then (not the last level) h = downsampler(h),
//     skips += h
//   h = resnets.1(attention(resnets.0(h, emb)), emb)         (mid_block)
//   per up block: R + 1 times h = resnet(cat(h, skips.pop()), emb), then
//     attention at attention levels; then (not the last) h = conv(up(h))
//   return conv_out(silu(conv_norm_out(h)))
// Deviation from diffusers: up(h) is upsample_bilinear2d (align_corners=True,
// the engine's only upsampling), not nearest; and the sinusoid is the simple
// UNet's (nn/unet.h: [sin, cos], frequencies over half - 1) rather than
// diffusers' flip_sin_to_cos [cos, sin] over half. Everything else, shapes
// and names included, is UNet2DModel with resnet_time_scale_shift "default",
// mid_block_scale_factor 1, conv down/upsamplers and attention_head_dim =
// head_channels.
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
  // time_embedding, class_embedding, down_blocks, mid_block, up_blocks,
  // conv_norm_out, conv_out). `config` is validated, arch ddpm.
  DdpmUNetBody(Module& owner, const UNetConfig& config);

  // The width of the sinusoid time_embedding takes: c0.
  int64_t sinusoid_width() const { return c0_; }
  // The time embedding [N, D] of the sinusoid [N, c0].
  Tensor embed(const Tensor& sinusoid);
  // x [N, in + cond_channels, H, W] (H, W multiples of size_multiple()),
  // emb [N, D] (time plus class embedding) -> [N, in, H, W].
  Tensor forward(const Tensor& x, const Tensor& emb);

  // Null when unconditional.
  const std::shared_ptr<Embedding>& class_embedding() const { return class_embedding_; }
  // The ResBlocks' dropout masks (nn/resblock.h): training off by default.
  DropoutDraw& dropout_draw() { return draw_; }

 private:
  struct Block {
    std::vector<std::shared_ptr<ResBlock>> resnets;
    std::vector<std::shared_ptr<AttentionBlock>> attentions;  // empty without attention
    std::shared_ptr<Conv2d> resample;                         // down- or upsampler's conv; may be null
  };

  int64_t c0_;
  DropoutDraw draw_;        // read by every ResBlock (their index: creation order)
  uint64_t resblocks_ = 0;  // ResBlocks made so far
  std::shared_ptr<Conv2d> conv_in_, conv_out_;
  std::shared_ptr<Linear> linear_1_, linear_2_;
  std::shared_ptr<Embedding> class_embedding_;
  std::vector<Block> down_, up_;
  Block mid_;
  std::shared_ptr<GroupNorm> conv_norm_out_;
};

}  // namespace ddpm::nn
