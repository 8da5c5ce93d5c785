// CPU concat and its split: one task per outer row, one memcpy per input.
#include "kernels/concat.h"

#include <cstring>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
void concat_fwd(const T* const* xs, const int64_t* sizes, int64_t count, T* out, const ConcatDims& d) {
  parallel_for(d.outer, d.total * d.inner, [&](int64_t r) {
    T* o = out + r * d.total * d.inner;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t len = sizes[i] * d.inner;
      if (len > 0) std::memcpy(o, xs[i] + r * len, static_cast<size_t>(len) * sizeof(T));
      o += len;
    }
  });
}

template <class T>
void concat_bwd(const T* g, T* const* gxs, const int64_t* sizes, int64_t count, const ConcatDims& d) {
  parallel_for(d.outer, d.total * d.inner, [&](int64_t r) {
    const T* src = g + r * d.total * d.inner;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t len = sizes[i] * d.inner;
      if (gxs[i] && len > 0) std::memcpy(gxs[i] + r * len, src, static_cast<size_t>(len) * sizeof(T));
      src += len;
    }
  });
}

template void concat_fwd<float>(const float* const*, const int64_t*, int64_t, float*, const ConcatDims&);
template void concat_fwd<double>(const double* const*, const int64_t*, int64_t, double*, const ConcatDims&);
template void concat_bwd<float>(const float*, float* const*, const int64_t*, int64_t, const ConcatDims&);
template void concat_bwd<double>(const double*, double* const*, const int64_t*, int64_t, const ConcatDims&);

}  // namespace ddpm::kernels::cpu
