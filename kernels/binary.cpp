#include "kernels/binary.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
  }
  return "?";
}

Tensor binary_fwd(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  check_defined(a, name, "a");
  check_defined(b, name, "b");
  check_same_dtype_device(a, b, name);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  const BroadcastPlan plan = make_broadcast_plan(out_shape, a.shape(), b.shape());
  on_device(
      name, a,
      [&](auto t) {
        using T = decltype(t);
        cpu::binary_fwd<T>(op, a.data<T>(), b.data<T>(), out.data<T>(), plan);
      },
      [&](auto) { cuda::binary_fwd(op, a.data<float>(), b.data<float>(), out.data<float>(), plan); });
  return out;
}

void binary_inplace(BinaryOp op, Tensor& a, const Tensor& b) {
  const char* name = binary_op_name(op);
  check_defined(a, name, "a");
  check_defined(b, name, "b");
  check_same_dtype_device(a, b, name);
  if (broadcast_shapes(a.shape(), b.shape(), name) != a.shape())
    throw std::invalid_argument(std::string(name) + " in place: " + b.desc() + " does not broadcast to " +
                                a.desc());
  const BroadcastPlan plan = make_broadcast_plan(a.shape(), a.shape(), b.shape());
  on_device(
      name, a,
      [&](auto t) {
        using T = decltype(t);
        cpu::binary_fwd<T>(op, a.data<T>(), b.data<T>(), a.data<T>(), plan);
      },
      [&](auto) { cuda::binary_fwd(op, a.data<float>(), b.data<float>(), a.data<float>(), plan); });
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_defined(x, "sum_to", "x");
  if (x.shape() == shape) return x;
  broadcast_shapes(shape, x.shape(), "sum_to");
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  const BroadcastPlan plan = make_broadcast_plan(x.shape(), x.shape(), shape);
  on_device(
      "sum_to", x,
      [&](auto t) {
        using T = decltype(t);
        cpu::sum_to<T>(x.data<T>(), out.data<T>(), out.numel(), plan);
      },
      [&](auto) { cuda::sum_to(x.data<float>(), out.data<float>(), out.numel(), plan); });
  return out;
}

void binary_bwd(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& g, Tensor* ga, Tensor* gb) {
  using enum BinaryOp;
  if (ga) {
    Tensor full = op == mul ? binary_fwd(mul, g, b) : op == div ? binary_fwd(div, g, b) : g;
    *ga = sum_to(full, a.shape());
  }
  if (gb) {
    Tensor full;
    switch (op) {
      case add:
        full = g;
        break;
      case sub:
        full = binary_fwd(sub, Tensor::zeros({}, g.dtype(), g.device()), g);
        break;
      case mul:
        full = binary_fwd(mul, g, a);
        break;
      case div:  // -g * a / b^2 = -(g * (a / b)) / b
        full = binary_fwd(div, binary_fwd(mul, g, binary_fwd(div, a, b)), b);
        full = binary_fwd(sub, Tensor::zeros({}, g.dtype(), g.device()), full);
        break;
    }
    *gb = sum_to(full, b.shape());
  }
}

}  // namespace ddpm::kernels
