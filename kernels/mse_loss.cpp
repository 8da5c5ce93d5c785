#include "kernels/mse_loss.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
MseLossDims check(const Tensor& p, const Tensor& t, const char* op) {
  check_defined(p, op, "pred");
  check_defined(t, op, "target");
  if (p.shape() != t.shape())
    throw std::invalid_argument(std::string(op) + ": pred " + p.desc() + " and target " + t.desc() +
                                " must have the same shape");
  check_same_dtype_device(p, t, op);
  if (p.numel() == 0) throw std::invalid_argument(std::string(op) + ": empty input " + p.desc());
  return MseLossDims{p.numel()};
}
}  // namespace

Tensor mse_loss_fwd(const Tensor& p, const Tensor& t) { return mse_loss_fwd(p, t, nullptr); }

Tensor mse_loss_fwd(const Tensor& p, const Tensor& t, Tensor* gp) {
  const MseLossDims d = check(p, t, "mse_loss");
  if (gp) *gp = Tensor::empty(p.shape(), p.dtype(), p.device());
  return on_device(
      "mse_loss", p,
      [&](auto tag) {
        using T = decltype(tag);
        const double loss = cpu::mse_loss_fwd<T>(p.data<T>(), t.data<T>(), gp ? gp->data<T>() : nullptr, d);
        return Tensor::full({}, loss, p.dtype(), p.device());
      },
      [&](auto) {
        Tensor out = Tensor::empty({}, p.dtype(), p.device());
        cuda::mse_loss_fwd(p.data<float>(), t.data<float>(), out.data<float>(), d);
        if (gp) {
          const Tensor one = Tensor::ones({}, p.dtype(), p.device());
          cuda::mse_loss_bwd(p.data<float>(), t.data<float>(), one.data<float>(), gp->data<float>(), nullptr,
                             d);
        }
        return out;
      });
}

void mse_loss_bwd(const Tensor& p, const Tensor& t, const Tensor& g, Tensor* gp, Tensor* gt) {
  const char* op = "mse_loss backward";
  const MseLossDims d = check(p, t, op);
  check_defined(g, op, "grad_out");
  check_shape(g, {}, op, "grad_out");
  check_all_like(op, p, {&g});
  if (gp) *gp = Tensor::empty(p.shape(), p.dtype(), p.device());
  if (gt) *gt = Tensor::empty(p.shape(), p.dtype(), p.device());
  if (!gp && !gt) return;
  on_device(
      op, p,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::mse_loss_bwd<T>(p.data<T>(), t.data<T>(), g.data<T>(), gp ? gp->data<T>() : nullptr,
                             gt ? gt->data<T>() : nullptr, d);
      },
      [&](auto) {
        cuda::mse_loss_bwd(p.data<float>(), t.data<float>(), g.data<float>(),
                           gp ? gp->data<float>() : nullptr, gt ? gt->data<float>() : nullptr, d);
      });
}

}  // namespace ddpm::kernels
