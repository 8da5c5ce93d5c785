// Shared by the dense CPU kernels (conv2d, matmul, linear): Eigen views of
// row-major buffers, scratch buffers, and a fixed split of work ranges
// across OpenMP threads.
//
// matmul and linear (and conv2d's bwd-weight with few output channels) use
// Eigen's blocked, packed, vectorised product on Eigen::Map views of our
// row-major memory (no copies); conv2d's main GEMMs use the register-tiled
// kernel of kernels/cpu/packed_gemm.h. Called outside an
// OpenMP parallel region, Eigen splits a large product across the OpenMP
// threads itself; inside one (the batch-parallel conv2d kernels) it runs on
// the calling thread. Either way the summation order of each output element
// depends only on the shapes and the thread count, so results are
// deterministic for a given thread count.
#pragma once

// GCC 12's AVX-512 intrinsic headers trip -Wmaybe-uninitialized (and, in
// sanitizer builds, -Wuninitialized) wherever Eigen's packet code is inlined
// into ours: GCC bug 105593, fixed in GCC 13.
// A middle-end warning is judged by the pragma state at its location inside
// those headers, so this must come before their first inclusion: include this
// header first in the files that use it.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <Eigen/Core>
#include <cstdint>
#include <memory>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// rows x cols view of contiguous row-major memory.
template <class T>
using MatrixMap = Eigen::Map<RowMatrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>>;

// An uninitialised scratch buffer (zero-filling megabytes of im2col space
// that is about to be overwritten costs real time).
template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(n)]);
}

// Runs f(thread, threads) on `threads` OpenMP threads (fewer if OpenMP gives
// fewer, one when already inside a parallel region). f must split its work by
// the `threads` it is given, e.g. with thread_range().
template <class F>
void run_on_threads(int threads, F&& f) {
#ifdef _OPENMP
  if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
    f(omp_get_thread_num(), omp_get_num_threads());
    return;
  }
#endif
  (void)threads;
  f(0, 1);
}

// The contiguous block [begin, end) of [0, n) that thread t of `threads` owns.
struct Range {
  int64_t begin, end;
};
inline Range thread_range(int64_t n, int t, int threads) {
  return {n * t / threads, n * (t + 1) / threads};
}

}  // namespace ddpm::kernels::cpu
