// The runtime autotuner (kernels/autotune.h) with a fake timer: which variant
// it keeps, when it times, what it logs, its frozen / disabled states and its
// cache file. The CUDA conv2d's use of it (the timer is a pair of CUDA events
// around a launch) runs in the dense emulation (tests/cuda_emu_dense) and on
// a GPU.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "kernels/autotune.h"

namespace ddpm::test {

namespace {

using kernels::Autotuner;

const std::vector<std::string> kNames = {"default", "fast", "faster"};

// A timer whose variant i takes secs[i] (every run), counting its calls per variant.
struct FakeTimer {
  std::vector<double> secs;
  std::map<int, int> calls;
  Autotuner::Timer fn() {
    return [this](int i) {
      ++calls[i];
      return secs[static_cast<size_t>(i)];
    };
  }
};

struct Captured {
  std::vector<std::string> lines;
  Autotuner::Log fn() {
    return [this](const std::string& l) { lines.push_back(l); };
  }
};

std::string temp_path(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string("ddpm_autotune_") + name)).string();
}

}  // namespace

TEST_CASE("parity: autotuner keeps the fastest variant, times each key once and logs its choice") {
  Autotuner t("test");
  t.set_enabled(true);
  Captured log;
  t.set_log(log.fn());
  FakeTimer timer{{1.0e-3, 0.8e-3, 0.5e-3}, {}};
  CHECK(t.pick("k1", kNames, timer.fn()) == 2);
  // One warm-up and kRepeats timed runs per variant.
  for (int i = 0; i < 3; ++i) CHECK(timer.calls[i] == 1 + Autotuner::kRepeats);
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0].find("k1: faster") != std::string::npos);
  CHECK(log.lines[0].find("default 1 ms") != std::string::npos);
  CHECK(log.lines[0].find("faster 0.5 ms") != std::string::npos);
  // The same key again: the kept choice, no timing, no log line.
  timer.secs = {0.1e-3, 1.0, 1.0};
  CHECK(t.pick("k1", kNames, timer.fn()) == 2);
  CHECK(timer.calls[0] == 1 + Autotuner::kRepeats);
  CHECK(log.lines.size() == 1);
  // A new key is timed on its own.
  CHECK(t.pick("k2", kNames, timer.fn()) == 0);
  const std::vector<Autotuner::Choice> c = t.choices();
  REQUIRE(c.size() == 2);
  CHECK(c[0].key == "k1");
  CHECK(c[0].variant == "faster");
  CHECK(c[1].variant == "default");
  CHECK(c[1].seconds.size() == 3);
}

TEST_CASE("parity: autotuner replaces the default only when another variant is kMargin faster") {
  Autotuner t("test");
  t.set_enabled(true);
  t.set_log([](const std::string&) {});
  FakeTimer tie{{1.0e-3, 1.0e-3, 1.0e-3}, {}};
  CHECK(t.pick("tie", kNames, tie.fn()) == 0);
  FakeTimer slight{{1.0e-3, 0.98e-3, 2.0e-3}, {}};  // 2% faster: not enough
  CHECK(t.pick("slight", kNames, slight.fn()) == 0);
  FakeTimer clear{{1.0e-3, 0.96e-3, 2.0e-3}, {}};  // 4% faster
  CHECK(t.pick("clear", kNames, clear.fn()) == 1);
  FakeTimer equal_others{{1.0e-3, 0.5e-3, 0.5e-3}, {}};  // exact tie between the others: the lower index
  CHECK(t.pick("equal", kNames, equal_others.fn()) == 1);
}

TEST_CASE("parity: autotuner takes the median of its timed runs, after an untimed warm-up") {
  Autotuner t("test");
  t.set_enabled(true);
  t.set_log([](const std::string&) {});
  // Per variant: warm-up, then 3 runs. "fast" has a slow first launch and one
  // outlier among its runs; its median is still the fastest.
  std::map<int, std::vector<double>> seq = {{0, {1.0, 1.0e-3, 1.0e-3, 1.0e-3}},
                                            {1, {5.0, 0.5e-3, 9.0, 0.5e-3}},
                                            {2, {1.0e-3, 0.9e-3, 0.9e-3, 0.9e-3}}};
  std::map<int, size_t> at;
  CHECK(t.pick("k", kNames, [&](int i) { return seq[i][at[i]++]; }) == 1);
  for (int i = 0; i < 3; ++i) CHECK(at[i] == 4);
}

TEST_CASE("parity: autotuner never picks a variant that cannot run") {
  Autotuner t("test");
  t.set_enabled(true);
  t.set_log([](const std::string&) {});
  FakeTimer timer{{1.0e-3, -1.0, 0.9e-3}, {}};
  CHECK(t.pick("a", kNames, timer.fn()) == 2);
  CHECK(timer.calls[1] == 1);  // no timed runs after the refusal
  FakeTimer no_default{{-1.0, 2.0e-3, 3.0e-3}, {}};
  CHECK(t.pick("b", kNames, no_default.fn()) == 1);
  FakeTimer none{{-1.0, -1.0, -1.0}, {}};
  CHECK(t.pick("c", kNames, none.fn()) == 0);
  CHECK_THROWS_WITH_AS(t.pick("d", {}, none.fn()), doctest::Contains("no variants for d"),
                       std::invalid_argument);
}

TEST_CASE("parity: autotuner disabled or frozen times nothing") {
  Autotuner t("test");
  t.set_log([](const std::string&) {});
  FakeTimer timer{{1.0e-3, 0.1e-3, 0.2e-3}, {}};
  t.set_enabled(false);
  CHECK(t.pick("k", kNames, timer.fn()) == 0);
  CHECK(t.timer_calls() == 0);
  t.set_enabled(true);
  CHECK(t.pick("chosen", kNames, timer.fn()) == 1);
  const long calls = t.timer_calls();
  t.freeze();
  CHECK(t.frozen());
  CHECK(t.pick("chosen", kNames, timer.fn()) == 1);  // kept
  CHECK(t.pick("new", kNames, timer.fn()) == 0);     // the default, untimed
  CHECK(t.peek("new", kNames) == 0);
  CHECK(t.peek("chosen", kNames) == 1);
  CHECK(t.timer_calls() == calls);
  t.unfreeze();
  CHECK(t.pick("new", kNames, timer.fn()) == 1);  // not remembered while frozen: timed now
  CHECK(t.timer_calls() > calls);
  // Another candidate list under the same key is a new question.
  const std::vector<std::string> two = {"default", "faster"};
  FakeTimer timer2{{1.0e-3, 0.1e-3}, {}};
  CHECK(t.peek("chosen", two) == 0);
  CHECK(t.pick("chosen", two, timer2.fn()) == 1);
  CHECK(timer2.calls[0] == 1 + Autotuner::kRepeats);
}

TEST_CASE("parity: autotuner cache file: choices written back, read without timing, bad lines ignored") {
  const std::string path = temp_path("cache.txt");
  std::remove(path.c_str());
  {
    Autotuner t("test");
    t.set_enabled(true);
    t.set_log([](const std::string&) {});
    t.set_cache_file(path);  // missing: an empty cache
    FakeTimer timer{{1.0e-3, 0.5e-3, 0.7e-3}, {}};
    CHECK(t.pick("fwd x [1, 2]", kNames, timer.fn()) == 1);
  }
  {
    std::ifstream in(path);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(all.find("fwd x [1, 2]\tfast\n") != std::string::npos);
    std::ofstream app(path, std::ios::app);
    app << "no tab on this line\n"
        << "gone\tvariant-not-offered\n";
  }
  Autotuner t("test");
  t.set_enabled(true);
  Captured log;
  t.set_log(log.fn());
  t.set_cache_file(path);
  REQUIRE(log.lines.size() == 1);
  CHECK(log.lines[0].find(path + ":3: ignored") != std::string::npos);
  FakeTimer timer{{0.1e-3, 1.0e-3, 1.0e-3}, {}};
  CHECK(t.peek("fwd x [1, 2]", kNames) == 1);
  t.freeze();  // a cached choice needs no timing, so freezing does not hide it
  CHECK(t.pick("fwd x [1, 2]", kNames, timer.fn()) == 1);
  t.unfreeze();
  CHECK(t.timer_calls() == 0);
  CHECK(log.lines.back().find("(from " + path + ")") != std::string::npos);
  CHECK(t.pick("gone", kNames, timer.fn()) == 0);  // the cached name is not a candidate: timed
  CHECK(t.timer_calls() > 0);
  std::remove(path.c_str());
}

}  // namespace ddpm::test
