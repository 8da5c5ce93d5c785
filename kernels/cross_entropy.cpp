#include "kernels/cross_entropy.h"

#include <cmath>
#include <string>
#include <vector>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
// Shapes, dtypes, devices, then every label: a whole number in [0, K). On
// CUDA the labels are copied to the host for this (N values).
CrossEntropyDims check(const Tensor& z, const Tensor& y, const char* op) {
  check_defined(z, op, "logits");
  check_defined(y, op, "labels");
  if (z.dim() != 2 || z.size(0) == 0 || z.size(1) == 0)
    throw std::invalid_argument(std::string(op) + ": logits " + z.desc() + ", expected [N, K], N, K >= 1");
  const CrossEntropyDims d{z.size(0), z.size(1)};
  check_shape(y, {d.n}, op, "labels");
  check_same_dtype_device(z, y, op);
  const std::vector<double> v = y.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i)
    if (!(v[i] >= 0 && v[i] < static_cast<double>(d.k)) || v[i] != std::floor(v[i]))
      throw std::invalid_argument(std::string(op) + ": label " + std::to_string(v[i]) + " at index " +
                                  std::to_string(i) +
                                  " is not a class in [0, K) for K = " + std::to_string(d.k));
  return d;
}
}  // namespace

Tensor cross_entropy_fwd(const Tensor& z, const Tensor& y) {
  const CrossEntropyDims d = check(z, y, "cross_entropy");
  return on_device(
      "cross_entropy", z,
      [&](auto tag) {
        using T = decltype(tag);
        return Tensor::full({}, cpu::cross_entropy_fwd<T>(z.data<T>(), y.data<T>(), d), z.dtype(),
                            z.device());
      },
      [&](auto) {
        Tensor out = Tensor::empty({}, z.dtype(), z.device());
        cuda::cross_entropy_fwd(z.data<float>(), y.data<float>(), out.data<float>(), d);
        return out;
      });
}

Tensor cross_entropy_bwd(const Tensor& z, const Tensor& y, const Tensor& g) {
  const char* op = "cross_entropy backward";
  const CrossEntropyDims d = check(z, y, op);
  check_defined(g, op, "grad_out");
  check_shape(g, {}, op, "grad_out");
  check_all_like(op, z, {&g});
  Tensor gz = Tensor::empty(z.shape(), z.dtype(), z.device());
  on_device(
      op, z,
      [&](auto tag) {
        using T = decltype(tag);
        cpu::cross_entropy_bwd<T>(z.data<T>(), y.data<T>(), g.data<T>(), gz.data<T>(), d);
      },
      [&](auto) {
        cuda::cross_entropy_bwd(z.data<float>(), y.data<float>(), g.data<float>(), gz.data<float>(), d);
      });
  return gz;
}

}  // namespace ddpm::kernels
