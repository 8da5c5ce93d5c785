#include "kernels/group_norm_silu.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
}  // namespace

GroupNormForward group_norm_silu_fwd(const Tensor& x, int64_t groups, const Tensor& gamma, const Tensor& beta,
                                     double eps) {
  const char* op = "group_norm_silu";
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
        cpu::group_norm_silu_fwd<T>(x.data<T>(), data_or_null<T>(gamma), data_or_null<T>(beta),
                                    out.y.data<T>(), out.mean.data<T>(), out.rstd.data<T>(), d, eps);
      },
      [&](auto) {
        cuda::group_norm_silu_fwd(x.data<float>(), data_or_null<float>(gamma), data_or_null<float>(beta),
                                  out.y.data<float>(), out.mean.data<float>(), out.rstd.data<float>(), d,
                                  eps);
      });
  return out;
}

GroupNormGrads group_norm_silu_bwd(const Tensor& x, const Tensor& mean, const Tensor& rstd,
                                   const Tensor& gamma, const Tensor& beta, const Tensor& g, int64_t groups,
                                   bool need_gx, bool need_affine) {
  const char* op = "group_norm_silu backward";
  check_defined(x, op, "x");
  check_defined(g, op, "grad_out");
  const GroupNormDims d = group_norm_dims(x, groups, op);
  check_shape(g, x.shape(), op, "grad_out");
  check_shape(mean, {d.n, groups}, op, "mean");
  check_shape(rstd, {d.n, groups}, op, "rstd");
  check_all_like(op, x, {&g, &mean, &rstd});
  check_group_norm_affine(x, gamma, beta, op);
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
        cpu::group_norm_silu_bwd<T>(
            x.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(gamma), data_or_null<T>(beta),
            g.data<T>(), need_gx ? grads.gx.data<T>() : nullptr,
            need_affine ? grads.ggamma.data<T>() : nullptr, need_affine ? grads.gbeta.data<T>() : nullptr, d);
      },
      [&](auto) {
        cuda::group_norm_silu_bwd(x.data<float>(), mean.data<float>(), rstd.data<float>(),
                                  data_or_null<float>(gamma), data_or_null<float>(beta), g.data<float>(),
                                  need_gx ? grads.gx.data<float>() : nullptr,
                                  need_affine ? grads.ggamma.data<float>() : nullptr,
                                  need_affine ? grads.gbeta.data<float>() : nullptr, d);
      });
  return grads;
}

}  // namespace ddpm::kernels
