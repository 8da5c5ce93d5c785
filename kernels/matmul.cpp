#include "kernels/matmul.h"

#include <stdexcept>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
MatmulDims matmul_dims(const Tensor& a, const Tensor& b, const char* op) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_same_dtype_device(a, b, op);
  if (a.dim() != 2 || b.dim() != 2)
    throw std::invalid_argument(std::string(op) + ": operands " + a.desc() + " and " + b.desc() +
                                " must both be 2-d ([M, K] x [K, N])");
  if (a.size(1) != b.size(0))
    throw std::invalid_argument(std::string(op) + ": inner dimensions differ: " + a.desc() + " x " +
                                b.desc() + " (expected [M, K] x [K, N])");
  return {a.size(0), a.size(1), b.size(1)};
}
}  // namespace

Tensor matmul_fwd(const Tensor& a, const Tensor& b) {
  const MatmulDims d = matmul_dims(a, b, "matmul");
  Tensor c = Tensor::empty({d.M, d.N}, a.dtype(), a.device());
  on_device(
      "matmul", a,
      [&](auto t) {
        using T = decltype(t);
        cpu::matmul_fwd<T>(a.data<T>(), b.data<T>(), c.data<T>(), d);
      },
      [&](auto) { cuda::matmul_fwd(a.data<float>(), b.data<float>(), c.data<float>(), d); });
  return c;
}

void matmul_bwd(const Tensor& a, const Tensor& b, const Tensor& g, Tensor* ga, Tensor* gb) {
  const char* op = "matmul backward";
  const MatmulDims d = matmul_dims(a, b, op);
  check_defined(g, op, "grad_out");
  check_same_dtype_device(a, g, op);
  check_shape(g, {d.M, d.N}, op, "grad_out");
  if (ga) *ga = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (gb) *gb = Tensor::empty(b.shape(), b.dtype(), b.device());
  on_device(
      op, a,
      [&](auto t) {
        using T = decltype(t);
        if (ga) cpu::matmul_bwd_a<T>(g.data<T>(), b.data<T>(), ga->data<T>(), d);
        if (gb) cpu::matmul_bwd_b<T>(a.data<T>(), g.data<T>(), gb->data<T>(), d);
      },
      [&](auto) {
        if (ga) cuda::matmul_bwd_a(g.data<float>(), b.data<float>(), ga->data<float>(), d);
        if (gb) cuda::matmul_bwd_b(a.data<float>(), g.data<float>(), gb->data<float>(), d);
      });
}

}  // namespace ddpm::kernels
