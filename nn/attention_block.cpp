#include "nn/attention_block.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

namespace {

// A Linear(C, C) layer applied to every pixel of x [N, C, H, W]: a 1x1
// convolution with its [C, C] weight viewed as [C, C, 1, 1].
Tensor pixelwise(const Linear& l, const Tensor& x) {
  return conv2d(x, reshape(l.weight(), {l.out_features(), l.in_features(), 1, 1}), l.bias());
}

}  // namespace

AttentionBlock::AttentionBlock(int64_t channels, int64_t head_channels, int64_t groups)
    : channels_(channels), head_channels_(head_channels) {
  if (channels_ <= 0 || head_channels_ <= 0 || channels_ % head_channels_ != 0)
    throw std::invalid_argument("AttentionBlock: head_channels " + std::to_string(head_channels_) +
                                " must be positive and divide the " + std::to_string(channels_) +
                                " channels");
  group_norm_ = register_module("group_norm", std::make_shared<GroupNorm>(groups, channels_));
  to_q_ = register_module("to_q", std::make_shared<Linear>(channels_, channels_));
  to_k_ = register_module("to_k", std::make_shared<Linear>(channels_, channels_));
  to_v_ = register_module("to_v", std::make_shared<Linear>(channels_, channels_));
  auto to_out = register_module("to_out", std::make_shared<Module>());
  to_out_ = to_out->register_module("0", std::make_shared<Linear>(channels_, channels_));
}

Tensor AttentionBlock::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != channels_)
    throw std::invalid_argument("AttentionBlock::forward: x must be [N, " + std::to_string(channels_) +
                                ", H, W], got " + x.desc());
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const Shape heads_shape{n * heads(), head_channels_, h * w};
  const Tensor normed = group_norm_->forward(x);
  const Tensor q = reshape(pixelwise(*to_q_, normed), heads_shape);
  const Tensor k = reshape(pixelwise(*to_k_, normed), heads_shape);
  const Tensor v = reshape(pixelwise(*to_v_, normed), heads_shape);
  const Tensor o = attention(q, k, v, 1.0 / std::sqrt(static_cast<double>(head_channels_)));
  return add(x, pixelwise(*to_out_, reshape(o, {n, channels_, h, w})));
}

}  // namespace ddpm::nn
