#include "nn/group_norm.h"

#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

GroupNorm::GroupNorm(int64_t groups, int64_t channels, double eps, bool affine)
    : groups_(groups), channels_(channels), eps_(eps) {
  if (groups_ <= 0 || channels_ <= 0 || channels_ % groups_ != 0 || !(eps_ > 0))
    throw std::invalid_argument("GroupNorm: need channels divisible by groups and eps > 0, got " +
                                std::to_string(groups_) + " groups, " + std::to_string(channels_) +
                                " channels, eps " + std::to_string(eps_));
  if (affine) {
    weight_ = register_parameter("weight", Tensor::empty({channels_}));
    bias_ = register_parameter("bias", Tensor::empty({channels_}));
  }
  reset_parameters(0, "");
}

void GroupNorm::reset_parameters(uint64_t, const std::string&) {
  if (!weight_.defined()) return;
  weight_.fill_(1.0);
  bias_.fill_(0.0);
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, groups_, weight_, bias_, eps_); }

Tensor GroupNorm::forward_silu(const Tensor& x) { return group_norm_silu(x, groups_, weight_, bias_, eps_); }

}  // namespace ddpm::nn
