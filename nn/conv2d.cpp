#include "nn/conv2d.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride,
               int64_t padding, bool bias, uint64_t seed)
    : in_(in_channels), out_(out_channels), k_(kernel_size), stride_(stride), padding_(padding) {
  if (in_ <= 0 || out_ <= 0 || k_ <= 0 || stride_ <= 0 || padding_ < 0)
    throw std::invalid_argument("Conv2d: need positive channels/kernel/stride and padding >= 0, got in " +
                                std::to_string(in_) + ", out " + std::to_string(out_) + ", kernel " +
                                std::to_string(k_) + ", stride " + std::to_string(stride_) + ", padding " +
                                std::to_string(padding_));
  weight_ = register_parameter("weight", Tensor::empty({out_, in_, k_, k_}));
  if (bias) bias_ = register_parameter("bias", Tensor::empty({out_}));
  reset_parameters(seed, "");
}

double Conv2d::init_bound() const { return 1.0 / std::sqrt(static_cast<double>(in_ * k_ * k_)); }

void Conv2d::reset_parameters(uint64_t seed, const std::string& prefix) {
  init_uniform(weight_, init_bound(), seed, prefix + "weight");
  if (bias_.defined()) init_uniform(bias_, init_bound(), seed, prefix + "bias");
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight_, bias_, stride_, padding_); }

Tensor Conv2d::forward(const Tensor& x, const Tensor& add) {
  return conv2d(x, weight_, bias_, stride_, padding_, add);
}

}  // namespace ddpm::nn
