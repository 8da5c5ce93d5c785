// One-op CUDA kernels for ddpm-bench's unfused references (see
// unfused_kernels.h). Layout: flat contiguous float buffers of n elements.
// Work mapping: 256 threads per block, a grid-stride loop, one element per
// iteration (randn: four elements, one Philox call). Nothing is fused, on
// purpose: each call is one kernel, as an eager framework's operator.
#include <curand_kernel.h>

#include <stdexcept>
#include <string>

#include "benchmarks/unfused_kernels.h"

namespace ddpm::bench::unfused {

namespace {

constexpr int kThreads = 256;

unsigned blocks(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > 65535 * 16 ? 65535 * 16 : b));
}

void launched(const char* name) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("unfused ") + name + ": " + cudaGetErrorString(e));
}

__device__ __forceinline__ int64_t first() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

// One elementwise kernel per functor: out[i] = f(i).
template <class F>
__global__ void map_kernel(float* __restrict__ out, int64_t n, F f) {
  for (int64_t i = first(); i < n; i += stride()) out[i] = f(i);
}

template <class F>
void map(const char* name, float* out, int64_t n, cudaStream_t s, F f) {
  if (n <= 0) return;
  map_kernel<<<blocks(n), kThreads, 0, s>>>(out, n, f);
  launched(name);
}

__global__ void randn_kernel(float* __restrict__ out, int64_t n, unsigned long long seed,
                             unsigned long long offset) {
  const int64_t quads = (n + 3) / 4;
  for (int64_t q = first(); q < quads; q += stride()) {
    curandStatePhilox4_32_10_t st;
    curand_init(seed, static_cast<unsigned long long>(q), offset, &st);
    const float4 r = curand_normal4(&st);
    const int64_t i = 4 * q;
    out[i] = r.x;
    if (i + 1 < n) out[i + 1] = r.y;
    if (i + 2 < n) out[i + 2] = r.z;
    if (i + 3 < n) out[i + 3] = r.w;
  }
}

// Device lambdas need the extended-lambda flag; plain functors do not.
struct MulScalar {
  const float* x;
  float c;
  __device__ float operator()(int64_t i) const { return c * x[i]; }
};
struct MulPerSample {
  const float* x;
  const float* a;
  int64_t per;
  __device__ float operator()(int64_t i) const { return a[i / per] * x[i]; }
};
struct Add {
  const float* x;
  const float* y;
  float alpha;
  __device__ float operator()(int64_t i) const { return x[i] + alpha * y[i]; }
};
struct AddScalar {
  const float* x;
  float c;
  __device__ float operator()(int64_t i) const { return x[i] + c; }
};
struct Clamp {
  const float* x;
  float lo, hi;
  __device__ float operator()(int64_t i) const { return fminf(fmaxf(x[i], lo), hi); }
};
struct Sqrt {
  const float* x;
  __device__ float operator()(int64_t i) const { return sqrtf(x[i]); }
};
struct Addcmul {
  const float* x;
  const float* y;
  const float* z;
  float v;
  __device__ float operator()(int64_t i) const { return x[i] + v * y[i] * z[i]; }
};
struct Addcdiv {
  const float* x;
  const float* y;
  const float* z;
  float v;
  __device__ float operator()(int64_t i) const { return x[i] + v * y[i] / z[i]; }
};

}  // namespace

void randn(float* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
  if (n <= 0) return;
  randn_kernel<<<blocks((n + 3) / 4), kThreads, 0, s>>>(out, n, seed, offset);
  launched("randn");
}

void mul_scalar(float* out, const float* x, float c, int64_t n, cudaStream_t s) {
  map("mul_scalar", out, n, s, MulScalar{x, c});
}

void mul_per_sample(float* out, const float* x, const float* a, int64_t per_sample, int64_t n,
                    cudaStream_t s) {
  map("mul_per_sample", out, n, s, MulPerSample{x, a, per_sample});
}

void add(float* out, const float* x, const float* y, float alpha, int64_t n, cudaStream_t s) {
  map("add", out, n, s, Add{x, y, alpha});
}

void add_scalar(float* out, const float* x, float c, int64_t n, cudaStream_t s) {
  map("add_scalar", out, n, s, AddScalar{x, c});
}

void clamp(float* out, const float* x, float lo, float hi, int64_t n, cudaStream_t s) {
  map("clamp", out, n, s, Clamp{x, lo, hi});
}

void sqrt(float* out, const float* x, int64_t n, cudaStream_t s) { map("sqrt", out, n, s, Sqrt{x}); }

void addcmul(float* out, const float* x, const float* y, const float* z, float v, int64_t n, cudaStream_t s) {
  map("addcmul", out, n, s, Addcmul{x, y, z, v});
}

void addcdiv(float* out, const float* x, const float* y, const float* z, float v, int64_t n, cudaStream_t s) {
  map("addcdiv", out, n, s, Addcdiv{x, y, z, v});
}

}  // namespace ddpm::bench::unfused
