// Data-parallel communication: which process of a training job this is, and
// the few collectives the trainer needs. No MPI or NCCL type appears here.
//
// world() is the process's communicator:
//   - built without MPI (no DDPM_MPI), or started without an MPI launcher (no
//     OMPI_COMM_WORLD_SIZE / PMI_SIZE / PMIX_RANK / MV2_COMM_WORLD_SIZE in the
//     environment): the single-process communicator, rank 0 of 1, where every
//     collective is a no-op and MPI is never initialised;
//   - started by mpirun (or srun, ...): MPI over MPI_COMM_WORLD, initialised
//     on the first call (MPI_THREAD_FUNNELED: only the main thread calls MPI)
//     and finalised at exit.
//
// Collectives and devices: CPU tensors go through MPI (MPI_Allreduce with
// MPI_SUM, then a division by size()). CUDA tensors go through NCCL on the
// engine's stream when the build has the CUDA backend and libnccl.so.2 can be
// loaded at run time (dlopen: binaries run where NCCL is absent); the NCCL
// unique id is broadcast over MPI, one GPU per rank (select_local_gpu).
// Without NCCL, CUDA tensors are staged through host memory and MPI.
//
// Every rank must make the same collective calls in the same order with
// tensors of the same shape and dtype. The result of allreduce_mean is the
// same on every rank: MPI's and NCCL's reductions hand every rank the same
// bytes (the trainer checks this at every checkpoint with all_equal).
//
// Failure: a rank that dies makes mpirun stop the job. Where a launcher does
// not (or a rank hangs), set_timeout(s) starts a watchdog thread: a collective
// that waits longer than s seconds prints which rank gave up, in which
// collective, and ends this process with exit status kExitPeerLost, which in
// turn makes the launcher stop the others.
#pragma once

#include <cstdint>
#include <string>

#include "tensor/tensor.h"

namespace ddpm::dist {

// Exit status of a rank whose collective timed out (the watchdog).
inline constexpr int kExitPeerLost = 4;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank and number of ranks on this machine (GPU choice, thread counts).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  // In place: t = (t summed over the ranks) / size(). f32 or f64, CPU or CUDA.
  virtual void allreduce_mean(Tensor& t) = 0;
  // In place: every rank's t becomes root's t.
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void broadcast(std::string& s, int root) = 0;
  // True on every rank when every rank passed the same value.
  virtual bool all_equal(uint64_t value) = 0;
  virtual void barrier() = 0;
  // Ends the whole job now with this exit status: for an error on one rank,
  // so that the others do not wait for it. Returns only when size() == 1.
  virtual void abort(int code) = 0;
  // A collective waiting longer than this for the other ranks ends the
  // process (see above); 0 waits forever (the default).
  virtual void set_timeout(double seconds) = 0;
  // "single process", or "MPI, 2 ranks on 1 machine, CUDA tensors through NCCL".
  virtual std::string describe() const = 0;
};

// Rank 0 of 1; every collective is a no-op.
Communicator& single_process();
// See the file comment. Throws std::runtime_error when MPI fails to start.
Communicator& world();
// True when an MPI launcher started this process (its environment says so).
bool launched_by_mpi();
// True when this build has MPI support.
bool built_with_mpi();

// True on every rank when flag is true on at least one.
bool any_rank(Communicator& c, bool flag);

// Binds this process to GPU local_rank() (cudaSetDevice); call before anything
// touches the GPU. Throws when the machine has fewer GPUs than local ranks, or
// the build has no CUDA backend. A no-op for a single process.
void select_local_gpu(const Communicator& c);

}  // namespace ddpm::dist
