// CPU q_sample: one pass over the batch, noise drawn per element from Philox.
#include "kernels/q_sample.h"

#include "kernels/cpu/parallel.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cpu {

template <class T>
void q_sample(const T* x0, const T* a, const T* b, T* x_t, T* noise, T* target, const QSampleDims& d) {
  parallel_for(d.batch, d.per_sample * 64, [&](int64_t n) {
    const T an = a[n], bn = b[n];
    const int64_t base = n * d.per_sample;
    for (int64_t i = base; i < base + d.per_sample; ++i) {
      const T e = static_cast<T>(philox::normal(d.seed, d.stream, d.offset + static_cast<uint64_t>(i)));
      noise[i] = e;
      x_t[i] = an * x0[i] + bn * e;
      if (d.v_target) target[i] = an * e - bn * x0[i];
    }
  });
}

template void q_sample<float>(const float*, const float*, const float*, float*, float*, float*,
                              const QSampleDims&);
template void q_sample<double>(const double*, const double*, const double*, double*, double*, double*,
                               const QSampleDims&);

}  // namespace ddpm::kernels::cpu
