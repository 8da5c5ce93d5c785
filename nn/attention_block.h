// AttentionBlock: spatial self-attention of the DDPM UNet (nn/unet_ddpm.h),
// diffusers' Attention as UNet2DModel builds it (group norm, residual,
// output scale 1), in the engine's channels-first layout:
//
//   h = group_norm(x)                                   [N, C, H, W]
//   q, k, v = to_q(h), to_k(h), to_v(h)                 1x1 convolutions
//   each viewed as [N * heads, head_channels, H * W]    (channel c of head
//                                                        c / head_channels)
//   o = attention(q, k, v, 1 / sqrt(head_channels))     autograd/functions.h
//   x = x + to_out.0(o viewed as [N, C, H, W])          1x1 convolution
//
// Optional cross-attention to context tokens (context_dim Dc > 0; the UNet's
// class tokens, UNetConfig::cross_attention_tokens), after the
// self-attention residual, with context [N, Dc, T] (T tokens, channels
// first):
//
//   h = norm2(x)                                        GroupNorm
//   q = attn2.to_q(h)                                   1x1 conv, [N, C, H, W]
//   k, v = attn2.to_k(context), attn2.to_v(context)     1x1 convs over the
//                                                       [N, Dc, T, 1] view:
//                                                       [N, C, T, 1]
//   q viewed as [N * heads, head_channels, H * W], k and v as
//   [N * heads, head_channels, T]
//   o = attention(q, k, v, 1 / sqrt(head_channels))     Lk = T keys
//   return x + attn2.to_out.0(o viewed as [N, C, H, W])
//
// Children in diffusers' names and order: group_norm GroupNorm(groups, C),
// to_q, to_k, to_v, to_out.0, each Linear(C, C) with bias; with
// cross-attention also norm2 GroupNorm(groups, C) and attn2 holding to_q
// Linear(C, C), to_k and to_v Linear(Dc, C), to_out.0 Linear(C, C). All
// Linear-shaped weights ([out, in], a diffusers checkpoint's tensors as they
// are), applied through reshape(weight, {out, in, 1, 1}) and conv2d, so no
// transpose. attn2 is named as in diffusers' BasicTransformerBlock; that
// block normalises with LayerNorm over the channels of each pixel, which has
// no channels-first form here, so norm2 is a GroupNorm like group_norm (a
// deviation: the names match, the statistics do not). Its to_q, to_k and
// to_v have biases (diffusers' cross-attention has none by default).
#pragma once

#include <memory>

#include "nn/group_norm.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ddpm::nn {

class AttentionBlock : public UnaryModule {
 public:
  // channels divisible by head_channels (heads = channels / head_channels);
  // context_dim > 0 adds the cross-attention to context tokens of that many
  // channels.
  AttentionBlock(int64_t channels, int64_t head_channels, int64_t groups, int64_t context_dim = 0);

  // x [N, C, H, W] -> [N, C, H, W]. Without cross-attention only; a block
  // with it throws std::invalid_argument (it needs the context).
  Tensor forward(const Tensor& x) override;
  // context: [N, Dc, T] (x's dtype and device) with cross-attention,
  // undefined without it; anything else throws std::invalid_argument.
  Tensor forward(const Tensor& x, const Tensor& context);

  int64_t channels() const { return channels_; }
  int64_t heads() const { return channels_ / head_channels_; }
  // Dc, or 0 without cross-attention.
  int64_t context_dim() const { return context_dim_; }

 private:
  int64_t channels_, head_channels_, context_dim_;
  std::shared_ptr<GroupNorm> group_norm_, norm2_;
  std::shared_ptr<Linear> to_q_, to_k_, to_v_, to_out_;
  std::shared_ptr<Linear> q2_, k2_, v2_, out2_;  // attn2's, null without cross-attention
};

}  // namespace ddpm::nn
