// DDPM_HD marks a function that the CPU kernels and the CUDA kernels share:
// __host__ __device__ (inlined) under nvcc, plain inline under a C++ compiler,
// so one definition serves both backends and their results agree.
#pragma once

#if defined(__CUDACC__)
#define DDPM_HD __host__ __device__ __forceinline__
#else
#define DDPM_HD inline
#endif
