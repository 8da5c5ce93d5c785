// Runs every parity case on the CPU and on CUDA and compares; enforces that
// every op in kernels/ops.h has a case; checks the guard sentinels.
#include <doctest/doctest.h>

#include <set>

#include "kernels/ops.h"
#include "tensor/cuda_backend.h"
#include "tensor/rng.h"
#include "tests/gpu/parity.h"
#include "tests/gradcheck.h"

namespace ddpm::test {

Tensor parity_input(const Shape& shape, uint64_t stream, Device device, double lo, double hi, bool requires_grad) {
  Tensor t = rand_uniform(shape, lo, hi, 2024, stream, DType::f32);
  if (device != Device::cpu) t = t.to(device);
  t.set_requires_grad(requires_grad);
  return t;
}

namespace {
std::vector<ParityCase> all_cases() {
  std::vector<ParityCase> all = parity_cases_elementwise();
  for (auto& c : parity_cases_dense()) all.push_back(c);
  return all;
}
}  // namespace

TEST_CASE("gpu: every op in the op list has a parity case") {
  std::set<std::string> covered;
  for (const auto& c : all_cases()) covered.insert(c.op);
  for (const auto& op : kernels::op_list())
    CHECK_MESSAGE(covered.count(std::string(op.name)) == 1, "op '" << op.name << "' has no CUDA parity case");
}

TEST_CASE("gpu: CUDA results match the CPU for every op, and stay inside their buffers") {
  const int64_t violations_before = cuda::guard_violations();
  for (const ParityCase& c : all_cases()) {
    const NamedResults cpu = c.run(Device::cpu);
    const NamedResults gpu = c.run(Device::cuda);
    REQUIRE_MESSAGE(cpu.size() == gpu.size(), c.op << " " << c.label << ": result counts differ");
    for (size_t i = 0; i < cpu.size(); ++i) {
      const Tensor g = gpu[i].second.device() == Device::cpu ? gpu[i].second : gpu[i].second.to(Device::cpu);
      REQUIRE_MESSAGE(g.shape() == cpu[i].second.shape(), c.op << " " << c.label << " " << cpu[i].first);
      const double err = normalised_error(g, cpu[i].second);
      INFO(c.op << " " << c.label << " " << cpu[i].first << ": normalised error " << err << " (tol " << c.tol
                << ": " << c.why << ")");
      CHECK(err <= c.tol);
      MESSAGE(c.op << " " << c.label << " " << cpu[i].first << " err " << err);
    }
  }
  cuda::synchronize();
  CHECK_MESSAGE(cuda::guard_violations() == violations_before,
                "a kernel wrote outside its buffer (guard sentinels overwritten)");
}

}  // namespace ddpm::test
