// The GPU test binary. Without a usable GPU (no CUDA in this build, no
// driver, no device) it says why and exits 77, which CTest reports as
// skipped (SKIP_RETURN_CODE 77). So does --require=<precondition>
// (tests/preconditions.h) when that precondition does not hold.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tensor/cuda_backend.h"
#include "tensor/device_query.h"
#include "tests/preconditions.h"

namespace {
// Listing the cases (or asking for help) runs none: no GPU needed.
bool lists_only(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    for (const char* flag :
         {"--list-test-cases", "-ltc", "--list-test-suites", "-lts", "--count", "-c", "--help", "-h"})
      if (a == flag || a.rfind(std::string(flag) + "=", 0) == 0) return true;
  }
  return false;
}
}  // namespace

int main(int argc, char** argv) {
  if (lists_only(argc, argv)) {
    doctest::Context ctx(argc, argv);
    return ctx.run();
  }
  const ddpm::CudaDeviceInfo info = ddpm::cuda_device_info();
  if (info.device_count == 0) {
    std::printf("ddpm_gpu_tests: skipped: %s\n", info.why_none.c_str());
    return 77;
  }
  std::printf("ddpm_gpu_tests: %s (sm_%d%d)\n", info.name.c_str(), info.cc_major, info.cc_minor);
  std::vector<char*> args;
  if (const int rc = ddpm::test::check_required(argc, argv, "ddpm_gpu_tests", args); rc >= 0) return rc;
  // Every device block gets sentinel guards; parity cases check them. Not in
  // direct allocation mode (DDPM_CUDA_DIRECT_ALLOC=1, for memcheck), where
  // the sanitizer sees each buffer's exact bounds itself.
  if (!ddpm::cuda::direct_alloc_mode()) ddpm::cuda::set_guard_mode(true);
  doctest::Context ctx(static_cast<int>(args.size()), args.data());
  const int rc = ctx.run();
  if (ctx.shouldExit()) return rc;
  return rc;
}
