// The list of ops: every kernel-backed operation the engine has, by name.
//
// Tests iterate over this list: the gradient-check suite fails when a
// differentiable op has no case, and the CUDA parity suite fails when any op
// has no case. Adding an op starts here (docs/adding-an-op.md).
//
// Columns: name, differentiable (has a backward and a gradient-check case).
#pragma once

#include <string_view>
#include <vector>

#define DDPM_OP_LIST(X)          \
  X(reshape, true)               \
  X(add, true)                   \
  X(sub, true)                   \
  X(mul, true)                   \
  X(div, true)                   \
  X(neg, true)                   \
  X(exp, true)                   \
  X(log, true)                   \
  X(sqrt, true)                  \
  X(sin, true)                   \
  X(cos, true)                   \
  X(silu, true)                  \
  X(sum, true)                   \
  X(mean, true)                  \
  X(matmul, true)                \
  X(linear, true)                \
  X(bmm, true)                   \
  X(attention, true)             \
  X(conv2d, true)                \
  X(group_norm, true)            \
  X(group_norm_silu, true)       \
  X(max_pool2d, true)            \
  X(global_avg_pool2d, true)     \
  X(upsample_bilinear2d, true)   \
  X(concat, true)                \
  X(mse_loss, true)              \
  X(cross_entropy, true)         \
  X(softmax, true)               \
  X(dropout, true)               \
  X(draw_timesteps, false)       \
  X(q_sample, false)             \
  X(ddpm_step, false)            \
  X(ddim_step, false)            \
  X(dpm_solver_step, false)      \
  X(euler_ancestral_step, false) \
  X(adam_update, false)          \
  X(ema_update, false)

namespace ddpm::kernels {

struct OpInfo {
  std::string_view name;
  bool differentiable;
};

inline const std::vector<OpInfo>& op_list() {
  static const std::vector<OpInfo> ops = {
#define DDPM_OP_INFO(name, diff) OpInfo{#name, diff},
      DDPM_OP_LIST(DDPM_OP_INFO)
#undef DDPM_OP_INFO
  };
  return ops;
}

}  // namespace ddpm::kernels
