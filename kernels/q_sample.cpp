#include "kernels/q_sample.h"

#include "kernels/dispatch.h"

namespace ddpm::kernels {

QSampleResult q_sample(const Tensor& x0, const Tensor& a, const Tensor& b, uint64_t seed, uint64_t stream,
                       uint64_t offset, bool v_target) {
  check_defined(x0, "q_sample", "x0");
  if (x0.dim() < 1) throw std::invalid_argument("q_sample: x0 " + x0.desc() + " has no batch dimension");
  check_all_like("q_sample", x0, {&a, &b});
  const int64_t n = x0.size(0);
  check_shape(a, {n}, "q_sample", "coef_a (sqrt(alphabar_t) per sample)");
  check_shape(b, {n}, "q_sample", "coef_b (sqrt(1 - alphabar_t) per sample)");
  QSampleResult r;
  r.x_t = Tensor::empty(x0.shape(), x0.dtype(), x0.device());
  r.noise = Tensor::empty(x0.shape(), x0.dtype(), x0.device());
  const bool v = v_target;
  r.target = v ? Tensor::empty(x0.shape(), x0.dtype(), x0.device()) : r.noise;
  const QSampleDims d{n, n ? x0.numel() / n : 0, seed, stream, offset, v};
  on_device(
      "q_sample", x0,
      [&](auto t) {
        using T = decltype(t);
        cpu::q_sample<T>(x0.data<T>(), a.data<T>(), b.data<T>(), r.x_t.data<T>(), r.noise.data<T>(),
                         r.target.data<T>(), d);
      },
      [&](auto) {
        cuda::q_sample(x0.data<float>(), a.data<float>(), b.data<float>(), r.x_t.data<float>(),
                       r.noise.data<float>(), r.target.data<float>(), d);
      });
  return r;
}

}  // namespace ddpm::kernels
