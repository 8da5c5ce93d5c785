// CPU bmm: one Eigen GEMM per matrix of the batch, on row-major maps
// (kernels/cpu/gemm.h). A batch of at least as many matrices as threads, or
// of small matrices, is split over the OpenMP threads (each product then runs
// on its thread); otherwise the matrices run one after the other and Eigen
// threads each product. Which way depends only on the shapes and the thread
// count, and every output element is summed by one Eigen GEMM, so results are
// deterministic for a given thread count.
#include "kernels/bmm.h"

#include "kernels/cpu/gemm.h"  // first: see the note on GCC 12 there (it includes <algorithm>)

namespace ddpm::kernels::cpu {

namespace {

template <class T>
void one_product(const T* a, const T* b, T* c, const BmmDims& d) {
  MatrixMap<T> out(c, d.M, d.N);
  if (d.K == 0) {
    out.setZero();
    return;
  }
  const ConstMatrixMap<T> A(a, d.trans_a ? d.K : d.M, d.trans_a ? d.M : d.K);
  const ConstMatrixMap<T> B(b, d.trans_b ? d.N : d.K, d.trans_b ? d.K : d.N);
  if (!d.trans_a && !d.trans_b)
    out.noalias() = A * B;
  else if (!d.trans_a)
    out.noalias() = A * B.transpose();
  else if (!d.trans_b)
    out.noalias() = A.transpose() * B;
  else
    out.noalias() = A.transpose() * B.transpose();
}

}  // namespace

template <class T>
void bmm_fwd(const T* a, const T* b, T* c, const BmmDims& d) {
  const int64_t sa = d.M * d.K, sb = d.K * d.N, sc = d.M * d.N;
  const int64_t flops = 2 * d.M * d.N * std::max<int64_t>(d.K, 1);
  // Below ~2^18 flops a product is too small for Eigen to thread well.
  const bool over_batch = d.batch >= num_threads() || flops < (int64_t{1} << 18);
  if (over_batch) {
    parallel_for(d.batch, flops, [&](int64_t i) { one_product(a + i * sa, b + i * sb, c + i * sc, d); });
  } else {
    for (int64_t i = 0; i < d.batch; ++i) one_product(a + i * sa, b + i * sb, c + i * sc, d);
  }
}

template void bmm_fwd<float>(const float*, const float*, float*, const BmmDims&);
template void bmm_fwd<double>(const double*, const double*, double*, const BmmDims&);

}  // namespace ddpm::kernels::cpu
