// A GEMM on BF16 operands with FP32 accumulation, for the CPU kernels of
// --precision bf16 (kernels/cpu/conv2d_bf16.cpp):
//
//   C [M, N] (+)= bf16(A) [M, K] . bf16(B) [K, N]      (C row-major, float)
//
// The operands come in as float and are rounded to BF16 (round to nearest
// even, tensor/bf16.h's rounding) while they are packed into 16 x 32 tiles;
// every product of two BF16 values is exact in FP32 and the sums are FP32.
//
// Packed layouts (zero past M, N and K, so no kernel needs an edge case):
//   A: tile (mb, kb) of 16 rows x 32 k at [(mb * Kt + kb) * 512]; row r,
//      column c of the tile at r * 32 + c.
//   B: tile (nb, kb) of 32 k x 16 columns at [(nb * Kt + kb) * 512], k in
//      pairs ("VNNI"): (k, n) of the tile at (k / 2) * 32 + n * 2 + k % 2.
// These are the operand layouts of the AMX instruction TDPBF16PS (a 16 x 16
// FP32 tile += A tile . B tile), and also what AVX512-BF16's VDPBF16PS
// wants (one B tile row is a vector of 16 k-pairs, one A pair a broadcast).
//
// Backends, chosen once per process (the best the CPU and the OS allow):
//   amx         Intel AMX (Sapphire Rapids and later), the OS asked for tile
//               state with arch_prctl. 3.0 TFLOP/s per core measured here in
//               a register loop, against 0.06 for FP32 FMAs.
//   avx512bf16  VDPBF16PS (Cooper Lake, Zen 4, or AMX not allowed): 1.4x
//               the FP32 FMA flops in the same loop here.
//   scalar      plain loops; a reference and the fallback elsewhere.
// They differ only in the order of the FP32 sums (and AMX/VDPBF16PS treat
// BF16 subnormal inputs as zero); each is deterministic.
#pragma once

#include <cstdint>

namespace ddpm::kernels::cpu::bf16gemm {

enum class Backend { scalar, avx512bf16, amx };
const char* backend_name(Backend b);

// Whether this machine (CPU and OS) can run b.
bool supported(Backend b);
// The backend in use: the best supported one unless set_backend chose.
Backend backend();
// For tests and benches; throws std::runtime_error naming b when this
// machine cannot run it.
void set_backend(Backend b);

constexpr int64_t kTileRows = 16, kTileK = 32, kTileCols = 16, kTileElems = 512;

inline int64_t tiles(int64_t n, int64_t t) { return (n + t - 1) / t; }
// uint16 elements of the packed A (M x K) and B (K x N).
inline int64_t packed_a_size(int64_t M, int64_t K) {
  return tiles(M, kTileRows) * tiles(K, kTileK) * kTileElems;
}
inline int64_t packed_b_size(int64_t K, int64_t N) {
  return tiles(N, kTileCols) * tiles(K, kTileK) * kTileElems;
}

// Packs A(r, c) = a[r * rs + c * cs], r < M, c < K (vector code where rs or
// cs is 1).
void pack_a(int64_t M, int64_t K, const float* a, int64_t rs, int64_t cs, uint16_t* dst);
// Packs B(k, n) = b[k * rs + n * cs], k < K, n < N (vector code where rs or
// cs is 1).
void pack_b(int64_t K, int64_t N, const float* b, int64_t rs, int64_t cs, uint16_t* dst);

// C = A B (accumulate: C += A B) from packed operands; C[i * ldc + j].
void gemm(int64_t M, int64_t N, int64_t K, const uint16_t* a, const uint16_t* b, float* c, int64_t ldc,
          bool accumulate);

}  // namespace ddpm::kernels::cpu::bf16gemm
