// CPU EMA update: elementwise, split across threads.
#include "kernels/ema_update.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
void ema_update(T* ema, const T* param, int64_t n, double decay) {
  const T d = static_cast<T>(decay), e = static_cast<T>(1 - decay);
  constexpr int64_t kChunk = 8192;
  parallel_for((n + kChunk - 1) / kChunk, kChunk * 4, [&](int64_t c) {
    const int64_t hi = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < hi; ++i) ema[i] = d * ema[i] + e * param[i];
  });
}

template void ema_update<float>(float*, const float*, int64_t, double);
template void ema_update<double>(double*, const double*, int64_t, double);

}  // namespace ddpm::kernels::cpu
