// The CUDA emulation check's runner (scripts/cuda-emu-check.sh builds it).
// Usage: cuda_emu_check [OP...]   run the named ops' checks (default: all)
//        cuda_emu_check --list    print the op names, one a line
#include <cuda_runtime.h>  // the emulation's (tests/cuda_emu/include): emu::g_launches

#include <cstdio>
#include <string>
#include <vector>

#include "tests/cuda_emu/emu_check.h"

namespace ddpm::emu_check {

const std::vector<EmuOp>& all_emu_ops() {
  static const std::vector<EmuOp> ops = {{"binary", emu_binary},
                                         {"unary", emu_unary},
                                         {"silu", emu_silu},
                                         {"group_norm_silu", emu_group_norm_silu},
                                         {"sum", emu_sum},
                                         {"attention", emu_attention},
                                         {"max_pool2d", emu_max_pool2d},
                                         {"global_avg_pool2d", emu_global_avg_pool2d},
                                         {"upsample_bilinear2d", emu_upsample_bilinear2d},
                                         {"concat", emu_concat},
                                         {"mse_loss", emu_mse_loss},
                                         {"cross_entropy", emu_cross_entropy},
                                         {"softmax", emu_softmax},
                                         {"dropout", emu_dropout},
                                         {"draw_timesteps", emu_draw_timesteps},
                                         {"q_sample", emu_q_sample},
                                         {"ddpm_step", emu_ddpm_step},
                                         {"ddim_step", emu_ddim_step},
                                         {"dpm_solver_step", emu_dpm_solver_step},
                                         {"euler_ancestral_step", emu_euler_ancestral_step},
                                         {"adam_update", emu_adam_update},
                                         {"ema_update", emu_ema_update},
                                         {"fill", emu_fill},
                                         {"rng", emu_rng}};
  return ops;
}

}  // namespace ddpm::emu_check

int main(int argc, char** argv) {
  using namespace ddpm::emu_check;
  const std::vector<EmuOp>& ops = all_emu_ops();
  std::vector<std::string> wanted(argv + 1, argv + argc);
  if (wanted.size() == 1 && wanted[0] == "--list") {
    for (const EmuOp& op : ops) std::printf("%s\n", op.op);
    return 0;
  }
  for (const std::string& name : wanted) {
    bool known = false;
    for (const EmuOp& op : ops) known = known || name == op.op;
    if (!known) {
      std::fprintf(stderr, "cuda_emu: unknown op '%s'; known:", name.c_str());
      for (const EmuOp& op : ops) std::fprintf(stderr, " %s", op.op);
      std::fprintf(stderr, "\n");
      return 2;
    }
  }
  for (const EmuOp& op : ops) {
    bool run = wanted.empty();
    for (const std::string& name : wanted) run = run || name == op.op;
    if (!run) continue;
    const int checks = g_checks, failures = g_failures;
    const long long launches = emu::g_launches;
    op.check();
    std::printf("%-20s %-6s %4d checks, %4lld launches\n", op.op, g_failures == failures ? "ok" : "FAILED",
                g_checks - checks, emu::g_launches - launches);
  }
  std::printf("cuda_emu: %d checks, %d failures, %lld kernel launches\n", g_checks, g_failures,
              emu::g_launches);
  return g_failures == 0 ? 0 : 1;
}
