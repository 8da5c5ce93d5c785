// Linear layer: y = x W^T + b for x [N, in].
//
// weight [out, in], bias [out] (optional). PyTorch's default init:
// U(-1/sqrt(in), 1/sqrt(in)) for both weight and bias.
#pragma once

#include "nn/module.h"

namespace ddpm::nn {

class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, uint64_t seed = 0);

  Tensor forward(const Tensor& x) override;

  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  // 1 / sqrt(fan_in): the half-width of the init interval.
  double init_bound() const;

 protected:
  void reset_parameters(uint64_t seed, const std::string& prefix) override;

 private:
  int64_t in_, out_;
  Tensor weight_, bias_;
};

}  // namespace ddpm::nn
