// Element types and devices a Tensor can have.
//
// float32 is what models train in; float64 exists on the CPU so that the
// central-difference gradient checks have enough precision to mean something.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ddpm {

enum class DType : uint8_t { f32, f64 };
enum class Device : uint8_t { cpu, cuda };

inline size_t dtype_size(DType t) { return t == DType::f32 ? 4 : 8; }
inline const char* dtype_name(DType t) { return t == DType::f32 ? "f32" : "f64"; }
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

}  // namespace ddpm
