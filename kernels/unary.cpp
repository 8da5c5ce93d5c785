#include "kernels/unary.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg:
      return "neg";
    case UnaryOp::exp:
      return "exp";
    case UnaryOp::log:
      return "log";
    case UnaryOp::sqrt:
      return "sqrt";
    case UnaryOp::sin:
      return "sin";
    case UnaryOp::cos:
      return "cos";
  }
  return "?";
}

Tensor unary_fwd(UnaryOp op, const Tensor& x) {
  check_defined(x, unary_op_name(op), "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  on_device(
      unary_op_name(op), x,
      [&](auto t) {
        using T = decltype(t);
        cpu::unary_fwd<T>(op, x.data<T>(), y.data<T>(), x.numel());
      },
      [&](auto) { cuda::unary_fwd(op, x.data<float>(), y.data<float>(), x.numel()); });
  return y;
}

Tensor unary_bwd(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g) {
  const char* name = unary_op_name(op);
  check_shape(g, x.shape(), name, "grad_out");
  check_all_like(name, x, {&y, &g});
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  on_device(
      name, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::unary_bwd<T>(op, x.data<T>(), y.data<T>(), g.data<T>(), gx.data<T>(), x.numel());
      },
      [&](auto) {
        cuda::unary_bwd(op, x.data<float>(), y.data<float>(), g.data<float>(), gx.data<float>(), x.numel());
      });
  return gx;
}

}  // namespace ddpm::kernels
