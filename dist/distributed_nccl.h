// NCCL for the CUDA tensors of dist/distributed.cpp, loaded at run time.
//
// libnccl.so.2 is opened with dlopen on first use rather than linked, so the
// programs and test binaries start on machines without NCCL (they then stage
// CUDA tensors through host memory and MPI). Compiled only with DDPM_NCCL
// (the build has the CUDA backend, MPI, and found nccl.h). Every call works
// on the engine's stream (ddpm::cuda::stream()) and waits for it, so the
// caller's watchdog sees a collective that never completes.
#pragma once

#ifdef DDPM_NCCL

#include <cstddef>
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace ddpm::dist::nccl {

inline constexpr size_t kUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES

// Loads libnccl.so.2 and its symbols once; false (and why) when it cannot,
// or when its version lacks ncclAvg (before 2.10).
bool load(std::string* why);
// A fresh unique id (on the root rank), as bytes to broadcast over MPI.
std::string unique_id();
// "NCCL 2.28.9"
std::string version();

class Comm {
 public:
  // id: kUniqueIdBytes from unique_id() on the root; the current CUDA device
  // is this rank's GPU.
  Comm(const std::string& id, int rank, int size);
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  // The communicator is not destroyed: doing so from a static destructor at
  // exit races with the CUDA runtime's own teardown; the process exit frees it.
  ~Comm() = default;

  // In place on device memory: mean over the ranks (ncclAvg).
  void allreduce_mean(void* data, int64_t count, DType dtype);
  void broadcast(void* data, int64_t count, DType dtype, int root);

 private:
  void* comm_ = nullptr;  // ncclComm_t
};

}  // namespace ddpm::dist::nccl

#endif  // DDPM_NCCL
