#include "kernels/unary.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: return "neg";
    case UnaryOp::exp: return "exp";
    case UnaryOp::log: return "log";
    case UnaryOp::sqrt: return "sqrt";
    case UnaryOp::sin: return "sin";
    case UnaryOp::cos: return "cos";
  }
  return "?";
}

Tensor unary_fwd(UnaryOp op, const Tensor& x) {
  check_defined(x, unary_op_name(op), "x");
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device() == Device::cuda) {
#ifdef DDPM_CUDA
    require_cuda_f32(unary_op_name(op), x);
    cuda::unary_fwd(op, x.data<float>(), y.data<float>(), x.numel());
    return y;
#else
    no_kernel(unary_op_name(op), x);
#endif
  }
  dispatch_float(x.dtype(), [&](auto t) {
    using T = decltype(t);
    cpu::unary_fwd<T>(op, x.data<T>(), y.data<T>(), x.numel());
  });
  return y;
}

Tensor unary_bwd(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& g) {
  const char* name = unary_op_name(op);
  check_shape(g, x.shape(), name, "grad_out");
  check_all_like(name, x, {&y, &g});
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device() == Device::cuda) {
#ifdef DDPM_CUDA
    require_cuda_f32(name, x);
    cuda::unary_bwd(op, x.data<float>(), y.data<float>(), g.data<float>(), gx.data<float>(), x.numel());
    return gx;
#else
    no_kernel(name, x);
#endif
  }
  dispatch_float(x.dtype(), [&](auto t) {
    using T = decltype(t);
    cpu::unary_bwd<T>(op, x.data<T>(), y.data<T>(), g.data<T>(), gx.data<T>(), x.numel());
  });
  return gx;
}

}  // namespace ddpm::kernels
