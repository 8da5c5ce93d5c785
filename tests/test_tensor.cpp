// Tensor basics: creation, views, copies, errors, and the Philox RNG.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <set>
#include <vector>

#include "tensor/allocator.h"
#include "tensor/device_query.h"
#include "tensor/philox.h"
#include "tensor/rng.h"
#include "tensor/tensor.h"

using namespace ddpm;

TEST_CASE("tensor: creation fills values of the requested dtype") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::f32);
  CHECK(z.numel() == 6);
  for (float v : z.to_vector<float>()) CHECK(v == 0.0f);
  Tensor f = Tensor::full({4}, 2.5, DType::f64);
  for (double v : f.to_vector<double>()) CHECK(v == 2.5);
  Tensor a = Tensor::arange(0, 5, 1);
  CHECK(a.to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  Tensor a2 = Tensor::arange(1, 2, 0.25, DType::f64);
  CHECK(a2.to_vector<double>() == std::vector<double>{1, 1.25, 1.5, 1.75});
  CHECK(Tensor::scalar(3).dim() == 0);
  CHECK(Tensor::scalar(3).item() == 3.0);
}

TEST_CASE("tensor: reshape is a view sharing storage, clone is a copy") {
  Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor v = t.view({3, -1});
  CHECK(v.shape() == Shape{3, 2});
  v.data<float>()[0] = 42;
  CHECK(t.data<float>()[0] == 42);
  Tensor c = t.clone();
  c.data<float>()[1] = -1;
  CHECK(t.data<float>()[1] == 2);
  CHECK_THROWS_WITH_AS(t.view({4, 2}), doctest::Contains("[2, 3]"), std::invalid_argument);
}

TEST_CASE("tensor: dtype conversion and host copies round-trip") {
  std::vector<double> v = {0.1, -2.0, 3.5};
  Tensor d = Tensor::from_vector(v, {3});
  Tensor f = d.to(DType::f32);
  CHECK(f.dtype() == DType::f32);
  CHECK(f.to_vector<float>()[0] == doctest::Approx(0.1f));
  std::vector<double> back(3);
  d.copy_to_host(back.data());
  CHECK(back == v);
  CHECK_THROWS_AS(d.data<float>(), std::invalid_argument);
}

TEST_CASE("tensor: errors name the shape, dtype and device") {
  Tensor t = Tensor::zeros({2, 3}, DType::f64);
  CHECK(t.desc() == "Tensor[2, 3] f64 cpu");
  CHECK_THROWS_WITH(Tensor::from_vector(std::vector<float>{1, 2}, {3}),
                    doctest::Contains("do not fill shape [3]"));
}

TEST_CASE("tensor: broadcast_shapes follows NumPy and names the mismatch") {
  CHECK(broadcast_shapes({2, 3, 4, 5}, {2, 3, 1, 1}, "t") == Shape{2, 3, 4, 5});
  CHECK(broadcast_shapes({3, 1}, {1, 4}, "t") == Shape{3, 4});
  CHECK(broadcast_shapes({}, {2}, "t") == Shape{2});
  CHECK_THROWS_WITH(broadcast_shapes({2, 3}, {4}, "add"), doctest::Contains("add: shapes [2, 3] and [4]"));
}

TEST_CASE("tensor: Philox4x32-10 matches the Random123 known-answer vectors") {
  // Known-answer tests from Random123's kat_vectors for philox4x32_10:
  // counter 0, key 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8
  auto r = philox::draw(0, 0, 0);
  CHECK(r.w[0] == 0x6627e8d5u);
  CHECK(r.w[1] == 0xe169c58du);
  CHECK(r.w[2] == 0xbc57ac4cu);
  CHECK(r.w[3] == 0x9b00dbd8u);
  // counter all ones, key all ones -> 408f276d 41c83b0e a20bc7c6 6d5451fd
  auto s = philox::draw(~0ull, ~0ull, ~0ull);
  CHECK(s.w[0] == 0x408f276du);
  CHECK(s.w[1] == 0x41c83b0eu);
  CHECK(s.w[2] == 0xa20bc7c6u);
  CHECK(s.w[3] == 0x6d5451fdu);
}

TEST_CASE("tensor: random draws are a function of (seed, stream, index)") {
  Tensor a = randn({1000}, 7, 3), b = randn({1000}, 7, 3), c = randn({1000}, 7, 4);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(a.to_vector<float>() != c.to_vector<float>());
  // An offset fill continues the same sequence.
  Tensor tail = Tensor::empty({10});
  fill_normal(tail, 7, 3, 990);
  for (int i = 0; i < 10; ++i) CHECK(tail.to_vector<float>()[i] == a.to_vector<float>()[990 + i]);
}

TEST_CASE("tensor: normal and uniform draws have the right moments") {
  const int n = 200000;
  std::vector<double> z = randn({n}, 1, 0, DType::f64).to_vector<double>();
  double m = 0, v = 0;
  for (double x : z) m += x;
  m /= n;
  for (double x : z) v += (x - m) * (x - m);
  v /= n;
  // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032; 5 sigma.
  CHECK(std::abs(m) < 0.011);
  CHECK(std::abs(v - 1) < 0.016);
  std::vector<double> u = rand_uniform({n}, 2, 4, 1, 1, DType::f64).to_vector<double>();
  double mu = 0;
  for (double x : u) {
    CHECK_FALSE((x <= 2 || x >= 4));
    mu += x;
  }
  CHECK(std::abs(mu / n - 3) < 0.005);  // sd of mean: (2/sqrt(12))/sqrt(n) = 0.0013
  std::set<int64_t> seen;
  for (uint64_t i = 0; i < 1000; ++i) seen.insert(philox::uniform_int(5, 0, i, 10));
  CHECK(seen.size() == 10);
}

TEST_CASE("tensor: device query answers without a GPU") {
  const CudaDeviceInfo info = cuda_device_info();
  if (info.device_count == 0) {
    CHECK_FALSE(info.why_none.empty());
    CHECK_FALSE(cuda_available());
  } else {
    CHECK(cuda_available());
  }
}

TEST_CASE("tensor: CPU blocks of 32 MB and more are reused by size, up to the cache's cap") {
  cpu_release_cached();
  const size_t big = size_t{40} << 20;  // kept as 40 MB (a 2 MB multiple)
  void* a = device_alloc(Device::cpu, big);
  CHECK(reinterpret_cast<uintptr_t>(a) % (size_t{2} << 20) == 0);
  static_cast<char*>(a)[big - 1] = 1;  // the whole block is usable
  device_free(Device::cpu, a, big);
  CHECK(cpu_cached_bytes() == big);
  // Another size does not take it; the same size (after rounding) does.
  void* b = device_alloc(Device::cpu, big + (size_t{4} << 20));
  CHECK(b != a);
  CHECK(cpu_cached_bytes() == big);
  void* c = device_alloc(Device::cpu, big - 1000);
  CHECK(c == a);
  CHECK(cpu_cached_bytes() == 0);
  device_free(Device::cpu, b, big + (size_t{4} << 20));
  device_free(Device::cpu, c, big - 1000);
  CHECK(cpu_cached_bytes() == 2 * big + (size_t{4} << 20));
  // Small blocks go back to malloc at once.
  device_free(Device::cpu, device_alloc(Device::cpu, 1 << 20), 1 << 20);
  CHECK(cpu_cached_bytes() == 2 * big + (size_t{4} << 20));
  // Past 2 GB the oldest blocks are freed (untouched, so no memory is used).
  std::vector<void*> many;
  const size_t each = size_t{300} << 20;
  for (int i = 0; i < 8; ++i) many.push_back(device_alloc(Device::cpu, each));
  for (void* p : many) device_free(Device::cpu, p, each);
  CHECK(cpu_cached_bytes() <= (size_t{2} << 30));
  CHECK(cpu_cached_bytes() == 6 * each);  // past 2 GB: the 44 and the 40 went first, then the oldest 300
  cpu_release_cached();
  CHECK(cpu_cached_bytes() == 0);
}
