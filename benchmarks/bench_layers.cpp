// Times GroupNorm(8, C) + SiLU, forward and backward through autograd, at the
// UNet's largest and smallest activation shapes (the first and last of
// tests/ops/group_norm.cpp's bench shapes) at batch 32, in float32 on the CPU. The PyTorch twin is
// benchmarks/bench_layers_torch.py (same shapes, same steps).
//
// Usage: bench_layers [iterations]   (threads: OMP_NUM_THREADS)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "autograd/functions.h"
#include "kernels/cpu/parallel.h"
#include "tensor/rng.h"
#include "tests/ops/op_cases.h"

using namespace ddpm;

namespace {
double median_ms(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void bench(const Shape& s, int iters) {
  const int64_t c = s[1];
  Tensor x = randn(s, 1, 1).set_requires_grad();
  Tensor w = randn({c}, 1, 2).set_requires_grad();
  Tensor b = randn({c}, 1, 3).set_requires_grad();
  const Tensor g = randn(s, 1, 4);
  std::vector<double> fwd, total;
  for (int i = 0; i < iters + 2; ++i) {
    x.zero_grad();
    w.zero_grad();
    b.zero_grad();
    const auto t0 = std::chrono::steady_clock::now();
    Tensor y = silu(group_norm(x, 8, w, b));
    const auto t1 = std::chrono::steady_clock::now();
    autograd::backward(y, g);
    const auto t2 = std::chrono::steady_clock::now();
    if (i < 2) continue;  // warm-up
    fwd.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    total.push_back(std::chrono::duration<double, std::milli>(t2 - t0).count());
  }
  std::printf("group_norm(8)+silu f32 %-18s threads %d  fwd %7.2f ms  fwd+bwd %7.2f ms (median of %d)\n",
              shape_str(s).c_str(), kernels::cpu::num_threads(), median_ms(fwd), median_ms(total), iters);
}
}  // namespace

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const std::vector<test::BenchShape>& shapes = test::find_op_cases("group_norm")->bench;
  for (const test::BenchShape* b : {&shapes.front(), &shapes.back()}) {
    Shape s = b->sample;
    s.insert(s.begin(), 32);
    bench(s, iters);
  }
  return 0;
}
