// Caching device allocator and the engine's stream (tensor/cuda_backend.h).
//
// Free lists keyed by rounded size (std::multimap); a request takes a cached
// block of exactly its rounded size, which a loop that repeats its shapes
// always finds from its second iteration on. On cudaMalloc failure the cache is emptied
// and the allocation retried once before the error is reported with the
// sizes in use. With DDPM_CUDA_DIRECT_ALLOC=1 the cache is bypassed
// (direct_alloc_mode in tensor/cuda_backend.h).
#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::cuda {

namespace {

std::mutex g_mu;
bool g_guard = false;
int64_t g_violations = 0;
constexpr unsigned char kSentinel = 0xA5;
std::multimap<size_t, void*> g_free;  // rounded size -> block
AllocatorStats g_stats;

size_t round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = 2 << 20, kThreshold = 1 << 20;
  if (bytes == 0) bytes = 1;
  return bytes < kThreshold ? (bytes + kSmall - 1) / kSmall * kSmall : (bytes + kLarge - 1) / kLarge * kLarge;
}

void release_all_locked() {
  for (auto& [size, p] : g_free) {
    cudaFree(p);
    ++g_stats.cuda_free_calls;
    g_stats.bytes_cached -= static_cast<int64_t>(size);
  }
  g_free.clear();
}

}  // namespace

cudaStream_t stream() {
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    check(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking), "cudaStreamCreate");
    return created;
  }();
  return s;
}

void throw_cuda_error(cudaError_t err, const char* what, const std::string& detail) {
  throw std::runtime_error(std::string(what) + (detail.empty() ? "" : " (" + detail + ")") + ": CUDA error " +
                           cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

void* alloc_block(size_t bytes);
void free_block(void* ptr, size_t bytes);

void* alloc(size_t bytes) {
  if (!g_guard) return alloc_block(bytes);
  char* base = static_cast<char*>(alloc_block(bytes + 2 * kGuardBytes));
  check(cudaMemsetAsync(base, kSentinel, bytes + 2 * kGuardBytes, stream()), "guard fill");
  return base + kGuardBytes;
}

void free(void* ptr, size_t bytes) {
  if (!ptr) return;
  if (!g_guard) return free_block(ptr, bytes);
  char* base = static_cast<char*>(ptr) - kGuardBytes;
  unsigned char head[kGuardBytes], tail[kGuardBytes];
  check(cudaMemcpyAsync(head, base, kGuardBytes, cudaMemcpyDeviceToHost, stream()), "guard check");
  check(cudaMemcpyAsync(tail, static_cast<char*>(ptr) + bytes, kGuardBytes, cudaMemcpyDeviceToHost, stream()),
        "guard check");
  check(cudaStreamSynchronize(stream()), "guard check");
  for (size_t i = 0; i < kGuardBytes; ++i)
    if (head[i] != kSentinel || tail[i] != kSentinel) {
      std::lock_guard<std::mutex> lock(g_mu);
      ++g_violations;
      break;
    }
  free_block(base, bytes + 2 * kGuardBytes);
}

void set_guard_mode(bool on) { g_guard = on; }

int64_t guard_violations() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_violations;
}

bool direct_alloc_mode() {
  static const bool direct = [] {
    const char* v = std::getenv("DDPM_CUDA_DIRECT_ALLOC");
    return v != nullptr && std::strcmp(v, "0") != 0 && v[0] != '\0';
  }();
  return direct;
}

void* alloc_block(size_t bytes) {
  if (direct_alloc_mode()) {
    void* p = nullptr;
    check(cudaMalloc(&p, bytes == 0 ? 1 : bytes), "cudaMalloc (direct mode)",
          std::to_string(bytes) + " bytes");
    std::lock_guard<std::mutex> lock(g_mu);
    ++g_stats.cuda_malloc_calls;
    g_stats.bytes_in_use += static_cast<int64_t>(bytes);
    return p;
  }
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = g_free.find(size);
  if (it != g_free.end()) {
    void* p = it->second;
    g_stats.bytes_cached -= static_cast<int64_t>(size);
    g_stats.bytes_in_use += static_cast<int64_t>(size);
    g_free.erase(it);
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err != cudaSuccess) {
    cudaGetLastError();
    release_all_locked();
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess)
    throw_cuda_error(
        err, "cudaMalloc",
        std::to_string(size) + " bytes; " + std::to_string(g_stats.bytes_in_use) + " bytes in use");
  ++g_stats.cuda_malloc_calls;
  g_stats.bytes_in_use += static_cast<int64_t>(size);
  return p;
}

void free_block(void* ptr, size_t bytes) {
  if (direct_alloc_mode()) {
    check(cudaFree(ptr), "cudaFree (direct mode)", std::to_string(bytes) + " bytes");
    std::lock_guard<std::mutex> lock(g_mu);
    ++g_stats.cuda_free_calls;
    g_stats.bytes_in_use -= static_cast<int64_t>(bytes);
    return;
  }
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(g_mu);
  g_free.emplace(size, ptr);
  g_stats.bytes_in_use -= static_cast<int64_t>(size);
  g_stats.bytes_cached += static_cast<int64_t>(size);
}

void copy_h2d(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream()), "copy host->device",
        std::to_string(bytes) + " bytes");
  // The source is pageable host memory the caller may free at once.
  check(cudaStreamSynchronize(stream()), "copy host->device");
}

void copy_d2h(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream()), "copy device->host",
        std::to_string(bytes) + " bytes");
  check(cudaStreamSynchronize(stream()), "copy device->host (a kernel queued before it may have failed)");
}

void copy_d2d(void* dst, const void* src, size_t bytes) {
  if (!bytes) return;
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream()), "copy device->device",
        std::to_string(bytes) + " bytes");
}

void synchronize() { check(cudaStreamSynchronize(stream()), "cuda::synchronize (a queued kernel failed)"); }

AllocatorStats allocator_stats() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_stats;
}

void empty_cache() {
  synchronize();
  std::lock_guard<std::mutex> lock(g_mu);
  release_all_locked();
}

}  // namespace ddpm::cuda
