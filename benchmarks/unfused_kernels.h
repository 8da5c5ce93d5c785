// The unfused reference for ddpm-bench's memory-bound cases: the one-op
// kernels an eager framework launches for q_sample, the DDPM/DDIM updates,
// Adam and EMA (PyTorch eager: one TensorIterator kernel per operator, each
// reading its inputs from and writing its result to global memory).
//
// Every function launches exactly one kernel on `stream`: a grid-stride loop
// over n contiguous floats, one element per thread iteration (coalesced, so
// each kernel alone runs near the copy bandwidth; the cost of the sequence is
// the extra round trips through memory and the extra launches). randn draws
// with cuRAND's Philox4x32-10 (as torch.randn on CUDA), four normals per
// thread; its values differ from the engine's Philox stream, so checks of the
// unfused sequences read the noise back rather than recompute it.
//
// The sequences themselves (which ops, in what order) are spelled out in
// benchmarks/kernel_bench/ (diffusion_ops.cpp, optimizer.cpp) next to the fused kernel they race.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ddpm::bench::unfused {

// out[i] = standard normal (cuRAND Philox, subsequence i/4, given offset).
void randn(float* out, int64_t n, uint64_t seed, uint64_t offset, cudaStream_t stream);
// out = c * x
void mul_scalar(float* out, const float* x, float c, int64_t n, cudaStream_t stream);
// out[i] = a[i / per_sample] * x[i]   (a [N] broadcast as [N, 1, 1, 1])
void mul_per_sample(float* out, const float* x, const float* a, int64_t per_sample, int64_t n,
                    cudaStream_t stream);
// out = x + alpha * y   (torch.add(x, y, alpha=...); alpha -1 is sub)
void add(float* out, const float* x, const float* y, float alpha, int64_t n, cudaStream_t stream);
// out = x + c
void add_scalar(float* out, const float* x, float c, int64_t n, cudaStream_t stream);
// out = min(max(x, lo), hi)
void clamp(float* out, const float* x, float lo, float hi, int64_t n, cudaStream_t stream);
// out = sqrt(x)
void sqrt(float* out, const float* x, int64_t n, cudaStream_t stream);
// out = x + v * y * z   (torch.addcmul)
void addcmul(float* out, const float* x, const float* y, const float* z, float v, int64_t n,
             cudaStream_t stream);
// out = x + v * y / z   (torch.addcdiv)
void addcdiv(float* out, const float* x, const float* y, const float* z, float v, int64_t n,
             cudaStream_t stream);

}  // namespace ddpm::bench::unfused
