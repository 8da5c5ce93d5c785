// all_op_cases(): every family file's OpCases, in the order of kernels/ops.h.
// An explicit list (no static registration, which a static library would
// drop); a family missing here fails the completeness tests.
#include "kernels/ops.h"
#include "tests/ops/op_cases.h"

namespace ddpm::test {

namespace {
std::vector<OpCases> collect() {
  std::vector<OpCases> found;
  for (auto family :
       {elementwise_op_cases,   reshape_op_cases,  reduce_op_cases,     silu_op_cases,
        mse_loss_op_cases,      matmul_op_cases,   linear_op_cases,     bmm_op_cases,
        attention_op_cases,     conv2d_op_cases,   group_norm_op_cases, group_norm_silu_op_cases,
        max_pool2d_op_cases,    upsample_op_cases, concat_op_cases,     global_avg_pool2d_op_cases,
        cross_entropy_op_cases, softmax_op_cases,  dropout_op_cases,    diffusion_op_cases,
        optimizer_op_cases})
    for (OpCases& c : family()) found.push_back(std::move(c));
  // Ops of kernels/ops.h first, in its order; then any op it lacks (the
  // completeness tests name those).
  std::vector<OpCases> ordered;
  for (const kernels::OpInfo& op : kernels::op_list())
    for (const OpCases& c : found)
      if (c.op == op.name) ordered.push_back(c);
  for (const OpCases& c : found) {
    bool listed = false;
    for (const kernels::OpInfo& op : kernels::op_list()) listed = listed || c.op == op.name;
    if (!listed) ordered.push_back(c);
  }
  return ordered;
}
}  // namespace

const std::vector<OpCases>& all_op_cases() {
  static const std::vector<OpCases> all = collect();
  return all;
}

const OpCases* find_op_cases(std::string_view op) {
  for (const OpCases& c : all_op_cases())
    if (c.op == op) return &c;
  return nullptr;
}

}  // namespace ddpm::test
