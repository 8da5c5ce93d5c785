// Conv2d layer: y = conv2d(x, weight, bias, stride, padding).
//
// weight [out, in, k, k], bias [out] (optional). PyTorch's default init:
// kaiming_uniform(a = sqrt(5)) gives U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
// fan_in = in * k * k, and the bias is drawn from the same interval.
#pragma once

#include "nn/module.h"

namespace ddpm::nn {

class Conv2d : public UnaryModule {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
         int64_t padding = 0, bool bias = true, uint64_t seed = 0);

  Tensor forward(const Tensor& x) override;
  // y + add[:, :, None, None] for add [N, out], fused into the convolution
  // (conv2d's `add`; the residual block's time-embedding add).
  Tensor forward(const Tensor& x, const Tensor& add);

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  int64_t kernel_size() const { return k_; }
  // 1 / sqrt(fan_in): the half-width of the init interval.
  double init_bound() const;

 protected:
  void reset_parameters(uint64_t seed, const std::string& prefix) override;

 private:
  int64_t in_, out_, k_, stride_, padding_;
  Tensor weight_, bias_;
};

}  // namespace ddpm::nn
