// GroupNorm layer over x [N, C, H, W] (or [N, C]): C split into `groups`
// groups, each normalised by its own mean and biased variance, then scaled by
// gamma ("weight", init 1) and shifted by beta ("bias", init 0) per channel
// when affine, as PyTorch's nn.GroupNorm.
#pragma once

#include "nn/module.h"

namespace ddpm::nn {

class GroupNorm : public UnaryModule {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps = 1e-5, bool affine = true);

  Tensor forward(const Tensor& x) override;
  // silu(forward(x)) as the one fused op group_norm_silu (same parameters).
  Tensor forward_silu(const Tensor& x);

  const Tensor& weight() const { return weight_; }  // gamma; undefined unless affine
  const Tensor& bias() const { return bias_; }      // beta; undefined unless affine
  int64_t groups() const { return groups_; }
  int64_t channels() const { return channels_; }

 protected:
  void reset_parameters(uint64_t seed, const std::string& prefix) override;

 private:
  int64_t groups_, channels_;
  double eps_;
  Tensor weight_, bias_;
};

}  // namespace ddpm::nn
