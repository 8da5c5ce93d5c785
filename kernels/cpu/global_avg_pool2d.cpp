// CPU global average pooling: one task per (n, c) plane, the plane summed in
// double in index order; the backward fills each plane with g / (H W).
#include "kernels/global_avg_pool2d.h"

#include <algorithm>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
void global_avg_pool2d_fwd(const T* x, T* y, const GlobalAvgPool2dDims& d) {
  parallel_for(d.planes, d.hw, [&](int64_t p) {
    const T* plane = x + p * d.hw;
    double s = 0;
    for (int64_t i = 0; i < d.hw; ++i) s += static_cast<double>(plane[i]);
    y[p] = static_cast<T>(s / static_cast<double>(d.hw));
  });
}

template <class T>
void global_avg_pool2d_bwd(const T* g, T* gx, const GlobalAvgPool2dDims& d) {
  parallel_for(d.planes, d.hw, [&](int64_t p) {
    const T v = static_cast<T>(static_cast<double>(g[p]) / static_cast<double>(d.hw));
    std::fill(gx + p * d.hw, gx + (p + 1) * d.hw, v);
  });
}

template void global_avg_pool2d_fwd<float>(const float*, float*, const GlobalAvgPool2dDims&);
template void global_avg_pool2d_fwd<double>(const double*, double*, const GlobalAvgPool2dDims&);
template void global_avg_pool2d_bwd<float>(const float*, float*, const GlobalAvgPool2dDims&);
template void global_avg_pool2d_bwd<double>(const double*, double*, const GlobalAvgPool2dDims&);

}  // namespace ddpm::kernels::cpu
