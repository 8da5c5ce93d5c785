// CPU dropout: one pass, the keep bit of element i drawn from Philox at
// offset + i (tensor/philox.h), the same draw as the CUDA kernel's.
#include "kernels/dropout.h"

#include "kernels/cpu/parallel.h"
#include "tensor/philox.h"

namespace ddpm::kernels::cpu {

template <class T>
void dropout_fwd(const T* in, T* out, const DropoutDims& d) {
  const T s = static_cast<T>(1.0 / (1.0 - d.p));
  constexpr int64_t kChunk = 4096;
  const int64_t chunks = (d.n + kChunk - 1) / kChunk;
  parallel_for(chunks, kChunk * 64, [&](int64_t c) {
    const int64_t end = c * kChunk + kChunk < d.n ? c * kChunk + kChunk : d.n;
    for (int64_t i = c * kChunk; i < end; ++i) {
      const bool keep = philox::uniform(d.seed, d.stream, d.offset + static_cast<uint64_t>(i)) >= d.p;
      out[i] = keep ? in[i] * s : T(0);
    }
  });
}

template void dropout_fwd<float>(const float*, float*, const DropoutDims&);
template void dropout_fwd<double>(const double*, double*, const DropoutDims&);

}  // namespace ddpm::kernels::cpu
