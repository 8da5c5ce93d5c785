#include "kernels/dropout.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
Tensor apply_mask(const char* op, const char* what, const Tensor& in, double p, uint64_t seed,
                  uint64_t stream, uint64_t offset) {
  check_defined(in, op, what);
  if (!(p >= 0 && p < 1))
    throw std::invalid_argument(std::string(op) + ": p = " + std::to_string(p) + " for " + what + " " +
                                in.desc() + ": the drop probability must be in [0, 1)");
  if (p == 0) return in.clone();  // every u_i > 0: all kept, scale 1
  const DropoutDims d{in.numel(), p, seed, stream, offset};
  Tensor out = Tensor::empty(in.shape(), in.dtype(), in.device());
  if (d.n == 0) return out;
  on_device(
      op, in,
      [&](auto t) {
        using T = decltype(t);
        cpu::dropout_fwd<T>(in.data<T>(), out.data<T>(), d);
      },
      [&](auto) { cuda::dropout_fwd(in.data<float>(), out.data<float>(), d); });
  return out;
}
}  // namespace

Tensor dropout_fwd(const Tensor& x, double p, uint64_t seed, uint64_t stream, uint64_t offset) {
  return apply_mask("dropout", "x", x, p, seed, stream, offset);
}

Tensor dropout_bwd(const Tensor& g, double p, uint64_t seed, uint64_t stream, uint64_t offset) {
  return apply_mask("dropout backward", "grad_out", g, p, seed, stream, offset);
}

}  // namespace ddpm::kernels
