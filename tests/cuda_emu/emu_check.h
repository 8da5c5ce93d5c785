// The CUDA emulation check (scripts/cuda-emu-check.sh, docs/gpu.md): the CUDA
// launchers of the elementwise ops run on the CPU through the stand-in
// include/cuda_runtime.h and are compared with the CPU kernels, under
// AddressSanitizer/UBSan (or ThreadSanitizer). Index arithmetic, the float4
// and scalar variants, tails, broadcast plans, split reductions and buffer
// bounds are checked without a GPU.
//
// One file per op (or kernel file) under tests/cuda_emu/ops/, named after the
// kernel file it covers: ops/binary.cpp is the twin of kernels/cuda/binary.cu.
// Each file
//   - names the kernel files it covers on one line the script reads:
//       // emu-kernels: kernels/cuda/binary.cu kernels/cpu/binary.cpp
//     (the .cu files are compiled through transform.py, the .cpp as they are;
//     every kernels/cuda/*.cu and tensor/cuda/*.cu must be named by some op
//     file or exempted, with a reason, in scripts/cuda-emu-check.sh);
//   - defines `void emu_<op>()`, declared below and listed in all_emu_ops()
//     (tests/cuda_emu/main.cpp) under the file's name.
//
// Float rounding of the emulation equals the host compiler's, so most results
// must match the CPU kernels exactly; reductions differ in summation order
// (double accumulation) and SiLU in its exp (the CPU uses a polynomial),
// which get a tolerance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/shape.h"

namespace ddpm::emu_check {

extern int g_checks, g_failures;

// A buffer of n floats whose data pointer is 16-byte aligned, or 4 bytes past
// that (misaligned = true: the scalar variants). Exactly sized, so ASan sees
// any access past element n - 1.
struct Buf {
  std::vector<float> store;
  float* p = nullptr;
  int64_t n = 0;
  Buf(int64_t count, bool misaligned);
  std::vector<float> vec() const { return std::vector<float>(p, p + n); }
};

// n values uniform in [lo, hi) from Philox (seed 77, the given stream).
std::vector<float> random_vec(int64_t n, uint64_t stream, double lo = -1, double hi = 1);

// A Buf holding v.
Buf make(const std::vector<float>& v, bool misaligned);

// One check: |a - b| <= tol * max(1, |b|) element by element (tol 0:
// bitwise, NaN == NaN). Prints the first mismatch.
void expect(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
            double tol = 0);
// One check of a condition; prints "FAIL what" when it does not hold.
void expect_true(const std::string& what, bool ok);

inline std::string str(const Shape& s) { return shape_str(s); }

// An op's emulation check: its name (the file tests/cuda_emu/ops/<op>.cpp)
// and the function that runs its checks.
struct EmuOp {
  const char* op;
  void (*check)();
};

// Every op's check, in the order of kernels/ops.h, then the tensor fills
// (main.cpp). An explicit list, as tests/ops/registry.cpp; the script fails
// when an ops/*.cpp file is missing from it.
const std::vector<EmuOp>& all_emu_ops();

// One per file of tests/cuda_emu/ops/.
void emu_binary();                // kernels/cuda/binary.cu: add sub mul div, in place, sum_to
void emu_unary();                 // kernels/cuda/unary.cu: neg exp log sqrt sin cos
void emu_silu();                  // kernels/cuda/silu.cu
void emu_group_norm_silu();       // kernels/cuda/group_norm_silu.cu: forward, backward, affine grads
void emu_sum();                   // kernels/cuda/sum.cu: sum, mean and their backward
void emu_attention();             // kernels/cuda/attention.cu: forward, gq, gk and gv
void emu_max_pool2d();            // kernels/cuda/max_pool2d.cu
void emu_global_avg_pool2d();     // kernels/cuda/global_avg_pool2d.cu
void emu_upsample_bilinear2d();   // kernels/cuda/upsample_bilinear2d.cu
void emu_concat();                // kernels/cuda/concat.cu
void emu_mse_loss();              // kernels/cuda/mse_loss.cu
void emu_cross_entropy();         // kernels/cuda/cross_entropy.cu
void emu_softmax();               // kernels/cuda/softmax.cu: softmax (scale, mask), log_softmax, backward
void emu_dropout();               // kernels/cuda/dropout.cu
void emu_draw_timesteps();        // kernels/cuda/draw_timesteps.cu
void emu_q_sample();              // kernels/cuda/q_sample.cu
void emu_ddpm_step();             // kernels/cuda/ddpm_step.cu
void emu_ddim_step();             // kernels/cuda/ddim_step.cu
void emu_dpm_solver_step();       // kernels/cuda/dpm_solver_step.cu
void emu_euler_ancestral_step();  // kernels/cuda/euler_ancestral_step.cu
void emu_adam_update();           // kernels/cuda/adam_update.cu
void emu_ema_update();            // kernels/cuda/ema_update.cu
void emu_fill();                  // tensor/cuda/fill.cu: the device fill
void emu_rng();                   // tensor/cuda/rng.cu: the Philox fills

}  // namespace ddpm::emu_check
