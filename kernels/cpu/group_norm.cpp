// CPU GroupNorm: the loops of kernels/cpu/group_norm_impl.h without the
// activation (their header says how the work is split and summed).
#include "kernels/group_norm.h"

#include "kernels/cpu/group_norm_impl.h"

namespace ddpm::kernels::cpu {

template <class T>
void group_norm_fwd(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd, const GroupNormDims& d,
                    double eps) {
  group_norm_impl::forward<false>(x, gamma, beta, y, mean, rstd, d, eps);
}

template <class T>
void group_norm_bwd(const T* x, const T* mean, const T* rstd, const T* gamma, const T* g, T* gx, T* ggamma,
                    T* gbeta, const GroupNormDims& d) {
  group_norm_impl::backward<false, T>(x, mean, rstd, gamma, nullptr, g, gx, ggamma, gbeta, d);
}

template void group_norm_fwd<float>(const float*, const float*, const float*, float*, float*, float*,
                                    const GroupNormDims&, double);
template void group_norm_fwd<double>(const double*, const double*, const double*, double*, double*, double*,
                                     const GroupNormDims&, double);
template void group_norm_bwd<float>(const float*, const float*, const float*, const float*, const float*,
                                    float*, float*, float*, const GroupNormDims&);
template void group_norm_bwd<double>(const double*, const double*, const double*, const double*,
                                     const double*, double*, double*, double*, const GroupNormDims&);

}  // namespace ddpm::kernels::cpu
