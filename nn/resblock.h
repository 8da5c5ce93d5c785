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
// conv_shortcut. Dropout has one call site, in forward (see there).
#pragma once

#include <memory>

#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ddpm::nn {

class ResBlock : public Module {
 public:
  // dropout: the rate after the second SiLU; must be 0 until the dropout op
  // is wired (UNetConfig::validate refuses more).
  ResBlock(int64_t in_channels, int64_t out_channels, int64_t emb_dim, int64_t groups, double dropout = 0);

  // x [N, in, H, W], emb [N, emb_dim] (the UNet's time embedding, before its
  // SiLU) -> [N, out, H, W].
  Tensor forward(const Tensor& x, const Tensor& emb);

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }

 private:
  int64_t in_, out_;
  double dropout_;
  std::shared_ptr<GroupNorm> norm1_, norm2_;
  std::shared_ptr<Conv2d> conv1_, conv2_, conv_shortcut_;  // conv_shortcut_ null when in == out
  std::shared_ptr<Linear> time_emb_proj_;
};

}  // namespace ddpm::nn
