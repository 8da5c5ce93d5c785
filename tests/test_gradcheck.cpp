// Runs every gradient-check case and enforces coverage of the op list.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "kernels/ops.h"
#include "tests/gradcheck.h"

namespace ddpm::test {

namespace {
std::vector<GradCase> all_cases() {
  std::vector<GradCase> all;
  for (auto list : {gradcheck_cases_elementwise(), gradcheck_cases_dense(), gradcheck_cases_layers()})
    all.insert(all.end(), list.begin(), list.end());
  return all;
}
}  // namespace

TEST_CASE("gradcheck: every differentiable op in the op list has a case") {
  std::set<std::string> covered;
  for (const GradCase& c : all_cases()) covered.insert(c.op);
  for (const kernels::OpInfo& op : kernels::op_list()) {
    if (!op.differentiable) continue;
    CHECK_MESSAGE(covered.count(std::string(op.name)) == 1,
                  "op '" << op.name << "' has no gradient-check case");
  }
  const std::set<std::string> names = [] {
    std::set<std::string> s;
    for (const auto& op : kernels::op_list()) s.insert(std::string(op.name));
    return s;
  }();
  for (const std::string& name : covered)
    CHECK_MESSAGE(names.count(name) == 1, "case for '" << name << "', which is not in kernels/ops.h");
}

TEST_CASE("gradcheck: analytic gradients match central differences (float64)") {
  uint64_t seed = 1;
  for (const GradCase& c : all_cases()) {
    const GradResult r = run_gradcheck(c, seed++);
    INFO(c.op << " " << c.label << ":" << r.detail);
    CHECK(r.max_error <= c.tol);
  }
}

}  // namespace ddpm::test
