#include "kernels/linear.h"

#include <stdexcept>
#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

Tensor linear_fwd(const Tensor& x, const Tensor& w, const Tensor& b) {
  check_defined(x, "linear", "input");
  check_defined(w, "linear", "weight");
  check_all_like("linear", x, {&w, &b});
  if (x.dim() != 2 || w.dim() != 2)
    throw std::invalid_argument("linear: input " + x.desc() + " and weight " + w.desc() +
                                " must be 2-d ([N, in] and [out, in])");
  if (x.size(1) != w.size(1))
    throw std::invalid_argument("linear: input " + x.desc() + " has " + std::to_string(x.size(1)) +
                                " features but weight " + w.desc() + " expects " + std::to_string(w.size(1)));
  const LinearDims d{x.size(0), x.size(1), w.size(0)};
  if (b.defined() && b.shape() != Shape{d.out})
    throw std::invalid_argument("linear: bias " + b.desc() + " does not match weight " + w.desc() +
                                ", expected shape [" + std::to_string(d.out) + "]");
  Tensor y = Tensor::empty({d.N, d.out}, x.dtype(), x.device());
  on_device(
      "linear", x,
      [&](auto t) {
        using T = decltype(t);
        cpu::linear_fwd<T>(x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>(), d);
      },
      [&](auto) {
        cuda::linear_fwd(x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr,
                         y.data<float>(), d);
      });
  return y;
}

Tensor linear_bwd_data(const Tensor& g, const Tensor& w) {
  const char* op = "linear backward-data";
  check_defined(g, op, "grad_out");
  check_defined(w, op, "weight");
  check_same_dtype_device(g, w, op);
  if (g.dim() != 2 || w.dim() != 2 || g.size(1) != w.size(0))
    throw std::invalid_argument(std::string(op) + ": grad_out " + g.desc() + " and weight " + w.desc() +
                                " do not fit ([N, out] and [out, in])");
  const LinearDims d{g.size(0), w.size(1), w.size(0)};
  Tensor gx = Tensor::empty({d.N, d.in}, g.dtype(), g.device());
  on_device(
      op, g,
      [&](auto t) {
        using T = decltype(t);
        cpu::linear_bwd_data<T>(g.data<T>(), w.data<T>(), gx.data<T>(), d);
      },
      [&](auto) { cuda::linear_bwd_data(g.data<float>(), w.data<float>(), gx.data<float>(), d); });
  return gx;
}

Tensor linear_bwd_weight(const Tensor& x, const Tensor& g, Tensor* grad_bias) {
  const char* op = "linear backward-weight";
  check_defined(x, op, "input");
  check_defined(g, op, "grad_out");
  check_same_dtype_device(x, g, op);
  if (x.dim() != 2 || g.dim() != 2 || x.size(0) != g.size(0))
    throw std::invalid_argument(std::string(op) + ": input " + x.desc() + " and grad_out " + g.desc() +
                                " do not fit ([N, in] and [N, out])");
  const LinearDims d{x.size(0), x.size(1), g.size(1)};
  Tensor gw = Tensor::empty({d.out, d.in}, x.dtype(), x.device());
  if (grad_bias) *grad_bias = Tensor::empty({d.out}, x.dtype(), x.device());
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::linear_bwd_weight<T>(x.data<T>(), g.data<T>(), gw.data<T>(),
                                  grad_bias ? grad_bias->data<T>() : nullptr, d);
      },
      [&](auto) {
        cuda::linear_bwd_weight(x.data<float>(), g.data<float>(), gw.data<float>(),
                                grad_bias ? grad_bias->data<float>() : nullptr, d);
      });
  return gw;
}

}  // namespace ddpm::kernels
