// CPU fused GroupNorm + SiLU: the loops of kernels/cpu/group_norm_impl.h with
// SiLU applied in registers (their header says how the work is split and
// summed). z, s(z) and gz are formed by the same float operations as the
// unfused group_norm then silu, so the fused op matches that pair to the
// rounding of the compiler's contracted multiply-adds.
#include "kernels/group_norm_silu.h"

#include "kernels/cpu/group_norm_impl.h"

namespace ddpm::kernels::cpu {

template <class T>
void group_norm_silu_fwd(const T* x, const T* gamma, const T* beta, T* y, T* mean, T* rstd,
                         const GroupNormDims& d, double eps) {
  group_norm_impl::forward<true>(x, gamma, beta, y, mean, rstd, d, eps);
}

template <class T>
void group_norm_silu_bwd(const T* x, const T* mean, const T* rstd, const T* gamma, const T* beta, const T* g,
                         T* gx, T* ggamma, T* gbeta, const GroupNormDims& d) {
  group_norm_impl::backward<true>(x, mean, rstd, gamma, beta, g, gx, ggamma, gbeta, d);
}

template void group_norm_silu_fwd<float>(const float*, const float*, const float*, float*, float*, float*,
                                         const GroupNormDims&, double);
template void group_norm_silu_fwd<double>(const double*, const double*, const double*, double*, double*,
                                          double*, const GroupNormDims&, double);
template void group_norm_silu_bwd<float>(const float*, const float*, const float*, const float*, const float*,
                                         const float*, float*, float*, float*, const GroupNormDims&);
template void group_norm_silu_bwd<double>(const double*, const double*, const double*, const double*,
                                          const double*, const double*, double*, double*, double*,
                                          const GroupNormDims&);

}  // namespace ddpm::kernels::cpu
