// The engine's CUDA memory/stream API for the CPU emulation: host memory
// (malloc'd, so AddressSanitizer sees every overrun), no stream.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tensor/cuda/launch.cuh"
#include "tensor/cuda_backend.h"

namespace ddpm::cuda {

cudaStream_t stream() { return nullptr; }

void throw_cuda_error(cudaError_t, const char* what, const std::string& detail) {
  throw std::runtime_error(std::string("emulated CUDA error in ") + what + " (" + detail + ")");
}

void* alloc(size_t bytes) {
  void* p = std::malloc(bytes == 0 ? 1 : bytes);
  if (!p) throw std::bad_alloc();
  return p;
}

void free(void* ptr, size_t) { std::free(ptr); }

}  // namespace ddpm::cuda

// The op names the launchers put in their error messages live in the
// Tensor-level files (kernels/binary.cpp, kernels/unary.cpp), which the
// emulation does not build; stand-ins with the same answers.
#include "kernels/binary.h"
#include "kernels/unary.h"

namespace ddpm::kernels {
const char* binary_op_name(BinaryOp op) {
  const char* names[] = {"add", "sub", "mul", "div"};
  return names[static_cast<int>(op)];
}
const char* unary_op_name(UnaryOp op) {
  const char* names[] = {"neg", "exp", "log", "sqrt", "sin", "cos"};
  return names[static_cast<int>(op)];
}
}  // namespace ddpm::kernels
