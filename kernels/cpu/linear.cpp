// CPU linear layer: Eigen GEMMs on row-major maps (kernels/cpu/gemm.h),
// threaded by Eigen when large; the bias is preloaded into y so the forward
// is one accumulating GEMM. The bias gradient sums the rows of gy in order,
// in double.
#include "kernels/linear.h"

#include <vector>

#include "kernels/cpu/gemm.h"  // first: see the note on GCC 12 there

namespace ddpm::kernels::cpu {

template <class T>
void linear_fwd(const T* x, const T* w, const T* bias, T* y, const LinearDims& d) {
  MatrixMap<T> ym(y, d.N, d.out);
  if (bias) {
    ym.rowwise() = Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, d.out);
  } else {
    ym.setZero();
  }
  ym.noalias() += ConstMatrixMap<T>(x, d.N, d.in) * ConstMatrixMap<T>(w, d.out, d.in).transpose();
}

template <class T>
void linear_bwd_data(const T* g, const T* w, T* gx, const LinearDims& d) {
  MatrixMap<T>(gx, d.N, d.in).noalias() =
      ConstMatrixMap<T>(g, d.N, d.out) * ConstMatrixMap<T>(w, d.out, d.in);
}

template <class T>
void linear_bwd_weight(const T* x, const T* g, T* gw, T* gb, const LinearDims& d) {
  MatrixMap<T>(gw, d.out, d.in).noalias() =
      ConstMatrixMap<T>(g, d.N, d.out).transpose() * ConstMatrixMap<T>(x, d.N, d.in);
  if (!gb) return;
  std::vector<double> acc(static_cast<size_t>(d.out), 0.0);
  for (int64_t n = 0; n < d.N; ++n) {
    const T* row = g + n * d.out;
    for (int64_t o = 0; o < d.out; ++o) acc[static_cast<size_t>(o)] += static_cast<double>(row[o]);
  }
  for (int64_t o = 0; o < d.out; ++o) gb[o] = static_cast<T>(acc[static_cast<size_t>(o)]);
}

template void linear_fwd<float>(const float*, const float*, const float*, float*, const LinearDims&);
template void linear_fwd<double>(const double*, const double*, const double*, double*, const LinearDims&);
template void linear_bwd_data<float>(const float*, const float*, float*, const LinearDims&);
template void linear_bwd_data<double>(const double*, const double*, double*, const LinearDims&);
template void linear_bwd_weight<float>(const float*, const float*, float*, float*, const LinearDims&);
template void linear_bwd_weight<double>(const double*, const double*, double*, double*, const LinearDims&);

}  // namespace ddpm::kernels::cpu
