// Runs the gradient-check cases of tests/ops/ (one doctest case per
// differentiable op of kernels/ops.h, "gradcheck: <op>", so
// `ddpm_tests -tc='gradcheck: conv2d'` checks one op) and enforces that the
// case lists cover the op list.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "kernels/ops.h"
#include "tests/gradcheck.h"
#include "tests/ops/op_cases.h"

namespace ddpm::test {

namespace {

// The seed of a case: its op's position in kernels/ops.h and its own within
// the op, so one op run alone draws the same inputs as in a full run.
uint64_t case_seed(std::string_view op, size_t index) {
  uint64_t pos = 0;
  for (const kernels::OpInfo& info : kernels::op_list()) {
    ++pos;
    if (info.name == op) break;
  }
  return 1000 * pos + index + 1;
}

void check_gradients(std::string_view op) {
  const OpCases* cases = find_op_cases(op);
  REQUIRE_MESSAGE(cases != nullptr, "op '" << op << "' has no case list in tests/ops/");
  REQUIRE_MESSAGE(!cases->grad.empty(), "op '" << op << "' has no gradient-check case");
  for (size_t i = 0; i < cases->grad.size(); ++i) {
    const GradCase& c = cases->grad[i];
    const GradResult r = run_gradcheck(c, case_seed(op, i));
    INFO(c.op << " " << c.label << ":" << r.detail);
    CHECK(c.op == op);
    CHECK(r.max_error <= c.tol);
  }
}

}  // namespace

TEST_CASE("gradcheck: every differentiable op in the op list has a case") {
  std::set<std::string> covered, names;
  for (const OpCases& c : all_op_cases())
    if (!c.grad.empty()) covered.insert(c.op);
  for (const kernels::OpInfo& op : kernels::op_list()) {
    names.insert(std::string(op.name));
    if (!op.differentiable) continue;
    CHECK_MESSAGE(covered.count(std::string(op.name)) == 1,
                  "op '" << op.name << "' has no gradient-check case");
  }
  for (const std::string& name : covered)
    CHECK_MESSAGE(names.count(name) == 1, "case for '" << name << "', which is not in kernels/ops.h");
}

TEST_CASE("gradcheck: every case list names one op of the op list, and each of its cases that op") {
  std::set<std::string> seen, names;
  for (const kernels::OpInfo& op : kernels::op_list()) names.insert(std::string(op.name));
  for (const OpCases& c : all_op_cases()) {
    CHECK_MESSAGE(names.count(c.op) == 1,
                  "tests/ops/ has cases for '" << c.op << "', which is not in kernels/ops.h");
    CHECK_MESSAGE(seen.insert(c.op).second, "two case lists for '" << c.op << "'");
    for (const GradCase& g : c.grad)
      CHECK_MESSAGE(g.op == c.op, c.op << ": gradient-check case for " << g.op);
    for (const ParityCase& p : c.parity) CHECK_MESSAGE(p.op == c.op, c.op << ": parity case for " << p.op);
    for (const ParityCase& p : parity_cases(c)) {
      CHECK_MESSAGE(p.tol >= 0, c.op << " " << p.label << ": parity tolerance " << p.tol);
      CHECK_MESSAGE(!p.why.empty(), c.op << " " << p.label << ": parity tolerance without a reason");
    }
  }
}

// One doctest case per differentiable op: "gradcheck: <op>" (float64 central
// differences against a random upstream gradient).
#define DDPM_GRADCHECK_CASE_true(name) \
  TEST_CASE("gradcheck: " #name) { check_gradients(#name); }
#define DDPM_GRADCHECK_CASE_false(name)
#define DDPM_GRADCHECK_CASE(name, differentiable) DDPM_GRADCHECK_CASE_##differentiable(name)
DDPM_OP_LIST(DDPM_GRADCHECK_CASE)
#undef DDPM_GRADCHECK_CASE
#undef DDPM_GRADCHECK_CASE_true
#undef DDPM_GRADCHECK_CASE_false

}  // namespace ddpm::test
