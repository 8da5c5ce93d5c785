// Philox stream numbers: one per independent use of randomness, so that a
// draw added in one place never shifts the numbers of another. Weight init
// uses hashed per-parameter streams (nn/module.h) far from these.
#pragma once

#include <cstdint>

namespace ddpm::streams {

inline constexpr uint64_t kTimesteps = 1;       // training: t per sample, index step*B + n
inline constexpr uint64_t kTrainNoise = 2;      // training: q_sample eps, index step*B*P + i
inline constexpr uint64_t kSampling = 4;        // sampling: x_T and per-step noise
inline constexpr uint64_t kForwardPicture = 5;  // forward_process.png noise
inline constexpr uint64_t kCondDrop = 6;        // training: label dropped to "no class", index step*B + n
inline constexpr uint64_t kInpaintMask = 7;     // training: inpainting boxes, index (step*B + n)*4 + k
inline constexpr uint64_t kDropout = 8;         // model dropout: offset chosen by the model per forward

}  // namespace ddpm::streams
