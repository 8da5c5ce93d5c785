// Element types and devices a Tensor can have.
//
// float32 is what models train in; float64 exists on the CPU so that the
// central-difference gradient checks have enough precision to mean something;
// bf16 (tensor/bf16.h) is a storage type for mixed precision and compact
// checkpoints: tensors convert to and from it (Tensor::to, safetensors BF16),
// and an op without a bf16 kernel refuses it by name (kernels/dispatch.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/bf16.h"

namespace ddpm {

enum class DType : uint8_t { f32, f64, bf16 };
enum class Device : uint8_t { cpu, cuda };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f64:
      return 8;
    case DType::bf16:
      return 2;
  }
  return 0;
}
inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f64:
      return "f64";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}
inline const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct dtype_of<bf16> {
  static constexpr DType value = DType::bf16;
};

}  // namespace ddpm
