// Runs the parity cases of tests/ops/ on the CPU and on CUDA and compares
// (one doctest case per op of kernels/ops.h, "gpu: CUDA results match the
// CPU: <op>", so `ddpm_gpu_tests -tc='*CPU: conv2d'` checks one op and
// `-tc='gpu: CUDA results match*'` all of them); enforces that every op has
// a case; checks the guard sentinels; checks that the dense ops are
// deterministic.
#include <doctest/doctest.h>

#include <cstring>
#include <set>

#include "kernels/ops.h"
#include "tensor/cuda_backend.h"
#include "tests/gpu/parity.h"
#include "tests/gradcheck.h"
#include "tests/ops/op_cases.h"

namespace ddpm::test {

namespace {

void check_parity(std::string_view op) {
  const OpCases* cases = find_op_cases(op);
  REQUIRE_MESSAGE(cases != nullptr, "op '" << op << "' has no case list in tests/ops/");
  const std::vector<ParityCase> list = parity_cases(*cases);
  REQUIRE_MESSAGE(!list.empty(), "op '" << op << "' has no CUDA parity case");
  const int64_t violations_before = cuda::guard_violations();
  for (const ParityCase& c : list) {
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
                "a kernel of " << op << " wrote outside its buffer (guard sentinels overwritten)");
}

}  // namespace

TEST_CASE("gpu: every op in the op list has a parity case") {
  std::set<std::string> covered;
  for (const OpCases& c : all_op_cases())
    if (!parity_cases(c).empty()) covered.insert(c.op);
  for (const auto& op : kernels::op_list())
    CHECK_MESSAGE(covered.count(std::string(op.name)) == 1, "op '" << op.name << "' has no CUDA parity case");
}

// One doctest case per op: the CUDA forward and backward results against the
// CPU's, each within its tolerance, and no write outside a buffer.
#define DDPM_PARITY_CASE(name, differentiable) \
  TEST_CASE("gpu: CUDA results match the CPU: " #name) { check_parity(#name); }
DDPM_OP_LIST(DDPM_PARITY_CASE)
#undef DDPM_PARITY_CASE

// Determinism: the same inputs on the same GPU give bitwise the same
// results (no float atomics; split reductions add in a fixed order; cuBLAS on
// one stream).
TEST_CASE("gpu: dense ops give bitwise identical results run to run") {
  for (const char* op : {"conv2d", "group_norm", "linear", "matmul"}) {
    const OpCases* cases = find_op_cases(op);
    REQUIRE(cases != nullptr);
    for (const ParityCase& c : parity_cases(*cases)) {
      const NamedResults a = c.run(Device::cuda);
      const NamedResults b = c.run(Device::cuda);
      REQUIRE(a.size() == b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        const std::vector<float> va = a[i].second.to_vector<float>(), vb = b[i].second.to_vector<float>();
        REQUIRE(va.size() == vb.size());
        const bool same = va.empty() || std::memcmp(va.data(), vb.data(), va.size() * sizeof(float)) == 0;
        CHECK_MESSAGE(same, c.op << " " << c.label << " " << a[i].first << " differs between two runs");
      }
    }
  }
}

}  // namespace ddpm::test
