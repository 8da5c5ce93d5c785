// CPU draw_timesteps (kernels/draw_timesteps.h): one Philox draw per sample.
#include "kernels/draw_timesteps.h"

#include "tensor/philox.h"

namespace ddpm::kernels::cpu {

template <class T>
void draw_timesteps(const T* table_a, const T* table_b, T* t, T* a, T* b, const DrawTimestepsDims& d) {
  for (int64_t n = 0; n < d.batch; ++n) {
    const int64_t k = philox::uniform_int(d.seed, d.stream, d.first + static_cast<uint64_t>(n), d.steps);
    t[n] = static_cast<T>(k);
    a[n] = table_a[k];
    b[n] = table_b[k];
  }
}

template void draw_timesteps<float>(const float*, const float*, float*, float*, float*,
                                    const DrawTimestepsDims&);
template void draw_timesteps<double>(const double*, const double*, double*, double*, double*,
                                     const DrawTimestepsDims&);

}  // namespace ddpm::kernels::cpu
