// ResBlock: the residual block of the DDPM UNet (nn/unet_ddpm.h), diffusers'
// ResnetBlock2D with its defaults (time embedding added, output scale 1):
//
//   h = conv1(silu(norm1(x)))                       3x3, in -> out
//   h = h + time_emb_proj(silu(emb)) as [N, out, 1, 1]
//   h = conv2(dropout(silu(norm2(h))))              3x3, out -> out
//   return conv_shortcut(x) + h                     1x1, only when in != out
//                                                   (else x + h)
//
// Children in diffusers' names and order: norm1 GroupNorm(groups, in), conv1,
// time_emb_proj Linear(emb_dim, out), norm2 GroupNorm(groups, out), conv2,
// conv_shortcut.
//
// Dropout (rate > 0) applies only while the shared DropoutDraw says
// training: block `index` draws its mask from Philox (seed, stream,
// draw * 2^40 + index * 2^32 + element), so every block and every training
// step has its own mask, the same on the CPU and the GPU and again on a
// resume (the trainer sets draw from the step). Sampling and evaluation leave
// training off: no dropout, as PyTorch's eval mode.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ddpm::nn {

// Where the dropout masks of a model's ResBlocks come from; owned by the
// model, read by its blocks at every forward.
struct DropoutDraw {
  bool training = false;  // off: dropout is the identity
  uint64_t seed = 0, stream = 0;
  uint64_t draw = 0;  // one per training forward (the trainer: step x ranks + rank)
};

class ResBlock : public Module {
 public:
  // dropout: the rate after the second SiLU, in [0, 1). draw (may be null
  // when dropout is 0) and index < 256 place the block's masks (above).
  ResBlock(int64_t in_channels, int64_t out_channels, int64_t emb_dim, int64_t groups, double dropout = 0,
           const DropoutDraw* draw = nullptr, uint64_t index = 0);

  // x [N, in, H, W], emb [N, emb_dim] (the UNet's time embedding, before its
  // SiLU) -> [N, out, H, W].
  Tensor forward(const Tensor& x, const Tensor& emb);

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }

 private:
  int64_t in_, out_;
  double dropout_;
  const DropoutDraw* draw_;
  uint64_t index_;
  std::shared_ptr<GroupNorm> norm1_, norm2_;
  std::shared_ptr<Conv2d> conv1_, conv2_, conv_shortcut_;  // conv_shortcut_ null when in == out
  std::shared_ptr<Linear> time_emb_proj_;
};

}  // namespace ddpm::nn
