#include "kernels/group_norm_silu.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor group_norm_silu(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta, double eps) {
  kernels::GroupNormForward f = kernels::group_norm_silu_fwd(x, groups, gamma, beta, eps);
  const bool need_gx = x.requires_grad();
  const bool need_affine = gamma.defined() && (gamma.requires_grad() || beta.requires_grad());
  return autograd::record("group_norm_silu", f.y, {x, gamma, beta},
                          [x = x.detach(), gamma = gamma.defined() ? gamma.detach() : Tensor(),
                           beta = beta.defined() ? beta.detach() : Tensor(), mean = f.mean, rstd = f.rstd,
                           groups, need_gx, need_affine](const Tensor& g) {
                            kernels::GroupNormGrads r = kernels::group_norm_silu_bwd(
                                x, mean, rstd, gamma, beta, g, groups, need_gx, need_affine);
                            return std::vector<Tensor>{r.gx, r.ggamma, r.gbeta};
                          });
}

}  // namespace ddpm
