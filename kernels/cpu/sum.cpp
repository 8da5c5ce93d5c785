// CPU full reduction with a thread-count-independent summation order.
#include "kernels/sum.h"

#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
double sum(const T* x, int64_t n) {
  constexpr int64_t kChunk = 8192;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, kChunk, [&](int64_t c) {
    const int64_t lo = c * kChunk, hi = std::min(n, lo + kChunk);
    double acc = 0;
    for (int64_t i = lo; i < hi; ++i) acc += static_cast<double>(x[i]);
    partial[static_cast<size_t>(c)] = acc;
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

template <class T>
void fill_scaled(const T* g, T* out, int64_t n, double scale) {
  const T v = static_cast<T>(static_cast<double>(g[0]) * scale);
  for (int64_t i = 0; i < n; ++i) out[i] = v;
}

template double sum<float>(const float*, int64_t);
template double sum<double>(const double*, int64_t);
template void fill_scaled<float>(const float*, float*, int64_t, double);
template void fill_scaled<double>(const double*, double*, int64_t, double);

}  // namespace ddpm::kernels::cpu
