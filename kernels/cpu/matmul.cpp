// CPU matmul: Eigen GEMMs on row-major maps (kernels/cpu/gemm.h); Eigen
// threads a large product over the OpenMP threads, deterministically for a
// given thread count.
#include "kernels/matmul.h"

#include "kernels/cpu/gemm.h"  // first: see the note on GCC 12 there

namespace ddpm::kernels::cpu {

template <class T>
void matmul_fwd(const T* a, const T* b, T* c, const MatmulDims& d) {
  MatrixMap<T>(c, d.M, d.N).noalias() = ConstMatrixMap<T>(a, d.M, d.K) * ConstMatrixMap<T>(b, d.K, d.N);
}

template <class T>
void matmul_bwd_a(const T* g, const T* b, T* ga, const MatmulDims& d) {
  MatrixMap<T>(ga, d.M, d.K).noalias() =
      ConstMatrixMap<T>(g, d.M, d.N) * ConstMatrixMap<T>(b, d.K, d.N).transpose();
}

template <class T>
void matmul_bwd_b(const T* a, const T* g, T* gb, const MatmulDims& d) {
  MatrixMap<T>(gb, d.K, d.N).noalias() =
      ConstMatrixMap<T>(a, d.M, d.K).transpose() * ConstMatrixMap<T>(g, d.M, d.N);
}

template void matmul_fwd<float>(const float*, const float*, float*, const MatmulDims&);
template void matmul_fwd<double>(const double*, const double*, double*, const MatmulDims&);
template void matmul_bwd_a<float>(const float*, const float*, float*, const MatmulDims&);
template void matmul_bwd_a<double>(const double*, const double*, double*, const MatmulDims&);
template void matmul_bwd_b<float>(const float*, const float*, float*, const MatmulDims&);
template void matmul_bwd_b<double>(const double*, const double*, double*, const MatmulDims&);

}  // namespace ddpm::kernels::cpu
