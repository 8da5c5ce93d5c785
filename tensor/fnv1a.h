// FNV-1a, 64-bit, over bytes: a cheap, stable fingerprint. Used for the
// parameters' Philox streams (nn/module.cpp: stable names -> stable streams,
// so its values must never change) and for checking that data-parallel ranks
// hold the same bytes (diffusion/trainer.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ddpm {

inline constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;
inline constexpr uint64_t kFnv1aPrime = 0x100000001b3ull;

// Continues hash h over n bytes at data (h = kFnv1aOffset to start).
inline uint64_t fnv1a(const void* data, size_t n, uint64_t h = kFnv1aOffset) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * kFnv1aPrime;
  return h;
}

}  // namespace ddpm
