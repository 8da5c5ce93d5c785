#include "nn/linear.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed)
    : in_(in_features), out_(out_features) {
  if (in_ <= 0 || out_ <= 0)
    throw std::invalid_argument("Linear: need positive sizes, got in " + std::to_string(in_) + ", out " +
                                std::to_string(out_));
  weight_ = register_parameter("weight", Tensor::empty({out_, in_}));
  if (bias) bias_ = register_parameter("bias", Tensor::empty({out_}));
  reset_parameters(seed, "");
}

double Linear::init_bound() const { return 1.0 / std::sqrt(static_cast<double>(in_)); }

void Linear::reset_parameters(uint64_t seed, const std::string& prefix) {
  init_uniform(weight_, init_bound(), seed, prefix + "weight");
  if (bias_.defined()) init_uniform(bias_, init_bound(), seed, prefix + "bias");
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight_, bias_); }

}  // namespace ddpm::nn
