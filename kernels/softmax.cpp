#include "kernels/softmax.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

Tensor softmax_fwd(const Tensor& x, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_defined(x, op, "x");
  if (x.dim() != 2 || x.size(1) == 0)
    throw std::invalid_argument(std::string(op) + ": x is " + x.desc() + ", expected [N, K] with K >= 1");
  const SoftmaxDims d{x.size(0), x.size(1), log};
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (d.n == 0) return y;
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::softmax_fwd<T>(x.data<T>(), y.data<T>(), d);
      },
      [&](auto) { cuda::softmax_fwd(x.data<float>(), y.data<float>(), d); });
  return y;
}

}  // namespace ddpm::kernels
