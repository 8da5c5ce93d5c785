// The shared helpers of the CUDA emulation check (emu_check.h).
#include "tests/cuda_emu/emu_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tensor/philox.h"

namespace ddpm::emu_check {

int g_checks = 0, g_failures = 0;

Buf::Buf(int64_t count, bool misaligned) : n(count) {
  store.assign(static_cast<size_t>(count + (misaligned ? 1 : 0)), 0.0f);
  p = store.data() + (misaligned ? 1 : 0);
  if (count == 0) p = nullptr;
}

std::vector<float> random_vec(int64_t n, uint64_t stream, double lo, double hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] =
        static_cast<float>(lo + (hi - lo) * philox::uniform(77, stream, static_cast<uint64_t>(i)));
  return v;
}

Buf make(const std::vector<float>& v, bool misaligned) {
  Buf b(static_cast<int64_t>(v.size()), misaligned);
  for (size_t i = 0; i < v.size(); ++i) b.p[i] = v[i];
  return b;
}

void expect(const std::string& what, const std::vector<float>& got, const std::vector<float>& want,
            double tol) {
  ++g_checks;
  if (got.size() != want.size()) {
    ++g_failures;
    std::printf("FAIL %s: %zu values, expected %zu\n", what.c_str(), got.size(), want.size());
    return;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const double a = got[i], b = want[i];
    const bool same = (std::isnan(a) && std::isnan(b)) || a == b ||
                      (tol > 0 && std::fabs(a - b) <= tol * std::max(1.0, std::fabs(b)));
    if (!same) {
      ++g_failures;
      std::printf("FAIL %s: element %zu is %.9g, expected %.9g\n", what.c_str(), i, a, b);
      return;
    }
  }
}

void expect_true(const std::string& what, bool ok) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::printf("FAIL %s\n", what.c_str());
  }
}

}  // namespace ddpm::emu_check
