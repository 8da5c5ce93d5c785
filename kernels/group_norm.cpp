#include "kernels/group_norm.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

GroupNormDims group_norm_dims(const Tensor& x, int64_t groups, const char* op) {
  if (x.dim() < 2)
    throw std::invalid_argument(std::string(op) + ": x is " + x.desc() + ", expected [N, C] or [N, C, H, W]");
  GroupNormDims d;
  d.n = x.size(0);
  d.c = x.size(1);
  d.hw = 1;
  for (int64_t i = 2; i < x.dim(); ++i) d.hw *= x.size(i);
  d.groups = groups;
  if (groups <= 0 || d.c % groups != 0)
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(d.c) + " channels of x " + x.desc() +
                                " are not divisible into " + std::to_string(groups) + " groups");
  return d;
}

void check_group_norm_affine(const Tensor& x, const Tensor& gamma, const Tensor& beta, const char* op) {
  if (gamma.defined() != beta.defined())
    throw std::invalid_argument(std::string(op) + ": gamma " + gamma.desc() + " and beta " + beta.desc() +
                                " must be both defined or both undefined");
  if (gamma.defined()) {
    check_shape(gamma, {x.size(1)}, op, "gamma");
    check_shape(beta, {x.size(1)}, op, "beta");
    check_all_like(op, x, {&gamma, &beta});
  }
}

GroupNormForward group_norm_fwd(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                double eps) {
  const char* op = "group_norm";
  check_defined(x, op, "x");
  const GroupNormDims d = group_norm_dims(x, groups, op);
  check_group_norm_affine(x, gamma, beta, op);
  if (!(eps >= 0.0)) throw std::invalid_argument(std::string(op) + ": eps must be >= 0");
  GroupNormForward out{Tensor::empty(x.shape(), x.dtype(), x.device()),
                       Tensor::empty({d.n, groups}, x.dtype(), x.device()),
                       Tensor::empty({d.n, groups}, x.dtype(), x.device())};
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::group_norm_fwd<T>(x.data<T>(), gamma.defined() ? gamma.data<T>() : nullptr,
                               beta.defined() ? beta.data<T>() : nullptr, out.y.data<T>(), out.mean.data<T>(),
                               out.rstd.data<T>(), d, eps);
      },
      [&](auto) {
        cuda::group_norm_fwd(x.data<float>(), gamma.defined() ? gamma.data<float>() : nullptr,
                             beta.defined() ? beta.data<float>() : nullptr, out.y.data<float>(),
                             out.mean.data<float>(), out.rstd.data<float>(), d, eps);
      });
  return out;
}

GroupNormGrads group_norm_bwd(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& gamma,
                              const Tensor& g, int64_t groups, bool need_gx, bool need_affine) {
  const char* op = "group_norm backward";
  check_defined(x, op, "x");
  check_defined(g, op, "grad_out");
  const GroupNormDims d = group_norm_dims(x, groups, op);
  check_shape(g, x.shape(), op, "grad_out");
  check_shape(mean, {d.n, groups}, op, "mean");
  check_shape(rstd, {d.n, groups}, op, "rstd");
  check_all_like(op, x, {&g, &mean, &rstd});
  if (gamma.defined()) {
    check_shape(gamma, {d.c}, op, "gamma");
    check_all_like(op, x, {&gamma});
  }
  need_affine = need_affine && gamma.defined();
  GroupNormGrads grads;
  if (need_gx) grads.gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (need_affine) {
    grads.ggamma = Tensor::empty({d.c}, x.dtype(), x.device());
    grads.gbeta = Tensor::empty({d.c}, x.dtype(), x.device());
  }
  if (!need_gx && !need_affine) return grads;
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::group_norm_bwd<T>(
            x.data<T>(), mean.data<T>(), rstd.data<T>(), gamma.defined() ? gamma.data<T>() : nullptr,
            g.data<T>(), need_gx ? grads.gx.data<T>() : nullptr,
            need_affine ? grads.ggamma.data<T>() : nullptr, need_affine ? grads.gbeta.data<T>() : nullptr, d);
      },
      [&](auto) {
        cuda::group_norm_bwd(x.data<float>(), mean.data<float>(), rstd.data<float>(),
                             gamma.defined() ? gamma.data<float>() : nullptr, g.data<float>(),
                             need_gx ? grads.gx.data<float>() : nullptr,
                             need_affine ? grads.ggamma.data<float>() : nullptr,
                             need_affine ? grads.gbeta.data<float>() : nullptr, d);
      });
  return grads;
}

}  // namespace ddpm::kernels
