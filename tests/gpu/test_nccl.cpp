// NCCL with one rank, the check a single GPU allows (docs/distributed.md):
// the library loads, a communicator of one rank starts, an all-reduce and a
// broadcast of known buffers leave them as they were (the mean over one
// rank is the value itself), and the process then exits cleanly. CTest
// entry `gpu-nccl` (precondition `nccl`); two-rank checks need two GPUs.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "dist/distributed_nccl.h"
#include "tensor/tensor.h"
#include "tests/preconditions.h"

#ifdef DDPM_NCCL

using namespace ddpm;

TEST_CASE("gpu-nccl: one rank: init, an all-reduce and a broadcast of known buffers" *
          test::unless_missing("nccl")) {
  DDPM_REQUIRE_PRECONDITION("nccl");
  MESSAGE(dist::nccl::version());
  const std::string id = dist::nccl::unique_id();
  REQUIRE(id.size() == dist::nccl::kUniqueIdBytes);
  dist::nccl::Comm comm(id, 0, 1);
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.25f * static_cast<float>(i) - 7.0f;
  Tensor f = Tensor::from_vector(values, {1000}).to(Device::cuda);
  comm.allreduce_mean(f.raw_data(), f.numel(), f.dtype());
  CHECK(f.to(Device::cpu).to_vector<float>() == values);
  Tensor d = Tensor::from_vector(std::vector<double>{1.5, -2.0, 1e300}, {3}).to(Device::cuda);
  comm.broadcast(d.raw_data(), d.numel(), d.dtype(), 0);
  CHECK(d.to(Device::cpu).to_vector<double>() == std::vector<double>{1.5, -2.0, 1e300});
}

#endif  // DDPM_NCCL
