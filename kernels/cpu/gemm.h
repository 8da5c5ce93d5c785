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

// clang-format off
#include "tensor/gcc12_intrinsics.h"  // first: before any AVX-512 header
// clang-format on

#include <Eigen/Core>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>
#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// rows x cols view of contiguous row-major memory.
template <class T>
using MatrixMap = Eigen::Map<RowMatrix<T>>;
template <class T>
using ConstMatrixMap = Eigen::Map<const RowMatrix<T>>;

// Uninitialised scratch buffers, recycled per thread. The dense kernels ask
// for megabytes of packing and im2col space on every call; buffers that come
// fresh from the operating system would cost a page fault and a page clear
// per 4 KiB on every call (measured: a quarter of the time of a small conv).
// A released buffer goes back to the pool of the thread that releases it,
// which keeps at most kScratchBlocks of them (the largest).
namespace detail {
class ScratchPool {
 public:
  static constexpr size_t kScratchBlocks = 8;
  ScratchPool() = default;
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;
  ~ScratchPool() {
    for (const Block& b : free_) ::operator delete(b.ptr, std::align_val_t(64));
  }
  // A block of at least `bytes`; its true size goes to `got`.
  void* acquire(size_t bytes, size_t& got) {
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i)
      if (free_[i].bytes >= bytes && (best == free_.size() || free_[i].bytes < free_[best].bytes)) best = i;
    if (best < free_.size()) {
      const Block b = free_[best];
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      got = b.bytes;
      return b.ptr;
    }
    got = bytes;
    return ::operator new(bytes, std::align_val_t(64));
  }
  void release(void* ptr, size_t bytes) {
    free_.push_back({ptr, bytes});
    if (free_.size() <= kScratchBlocks) return;
    auto smallest = std::min_element(free_.begin(), free_.end(),
                                     [](const Block& a, const Block& b) { return a.bytes < b.bytes; });
    ::operator delete(smallest->ptr, std::align_val_t(64));
    free_.erase(smallest);
  }

 private:
  struct Block {
    void* ptr;
    size_t bytes;
  };
  std::vector<Block> free_;
};
inline ScratchPool& scratch_pool() {
  thread_local ScratchPool pool;
  return pool;
}
}  // namespace detail

template <class T>
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(int64_t n)
      : ptr_(static_cast<T*>(detail::scratch_pool().acquire(static_cast<size_t>(n) * sizeof(T), bytes_))) {}
  Scratch(Scratch&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(o.bytes_) {}
  Scratch& operator=(Scratch&& o) noexcept {
    if (this != &o) {
      reset();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = o.bytes_;
    }
    return *this;
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { reset(); }

  T* get() const { return ptr_; }
  T& operator[](int64_t i) const { return ptr_[i]; }

 private:
  void reset() {
    if (ptr_) detail::scratch_pool().release(ptr_, bytes_);
    ptr_ = nullptr;
  }
  T* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// n uninitialised values of T (64-byte aligned), from this thread's pool.
template <class T>
Scratch<T> scratch(int64_t n) {
  return Scratch<T>(n);
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
inline Range thread_range(int64_t n, int t, int threads) { return {n * t / threads, n * (t + 1) / threads}; }

}  // namespace ddpm::kernels::cpu
