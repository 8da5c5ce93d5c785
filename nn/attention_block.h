// AttentionBlock: spatial self-attention of the DDPM UNet (nn/unet_ddpm.h),
// diffusers' Attention as UNet2DModel builds it (group norm, residual,
// output scale 1), in the engine's channels-first layout:
//
//   h = group_norm(x)                                   [N, C, H, W]
//   q, k, v = to_q(h), to_k(h), to_v(h)                 1x1 convolutions
//   each viewed as [N * heads, head_channels, H * W]    (channel c of head
//                                                        c / head_channels)
//   o = attention(q, k, v, 1 / sqrt(head_channels))     autograd/functions.h
//   return x + to_out.0(o viewed as [N, C, H, W])       1x1 convolution
//
// Children in diffusers' names and order: group_norm GroupNorm(groups, C),
// to_q, to_k, to_v, to_out.0, each Linear(C, C) with bias: Linear-shaped
// [C, C] weights (a diffusers checkpoint's tensors as they are), applied
// through reshape(weight, {C, C, 1, 1}) and conv2d, so no transpose.
#pragma once

#include <memory>

#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ddpm::nn {

class AttentionBlock : public UnaryModule {
 public:
  // channels divisible by head_channels (heads = channels / head_channels).
  AttentionBlock(int64_t channels, int64_t head_channels, int64_t groups);

  // x [N, C, H, W] -> [N, C, H, W].
  Tensor forward(const Tensor& x) override;

  int64_t channels() const { return channels_; }
  int64_t heads() const { return channels_ / head_channels_; }

 private:
  int64_t channels_, head_channels_;
  std::shared_ptr<GroupNorm> group_norm_;
  std::shared_ptr<Linear> to_q_, to_k_, to_v_, to_out_;
};

}  // namespace ddpm::nn
