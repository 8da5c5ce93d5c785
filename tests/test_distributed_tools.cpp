// ddpm-train under mpirun, started from this (single) test process: what
// rank 0 writes, resume across rank counts, and a rank that dies or hangs.
// CTest entry `mpi` (precondition `mpi`, tests/preconditions.h): skipped when
// the build has no MPI or mpirun is gone (or when this process itself was
// started by mpirun, so that it does not nest launchers).
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "dist/distributed.h"
#include "io/safetensors.h"
#include "io_util.h"
#include "tests/preconditions.h"

using namespace ddpm;
namespace fs = std::filesystem;

namespace {

#ifdef DDPM_MPI
const char* const kMpiexec = DDPM_MPIEXEC;
const char* const kMpiexecNp = DDPM_MPIEXEC_NP;
const char* const kMpiexecFlags = DDPM_MPIEXEC_FLAGS;
const char* const kTrainExe = DDPM_TRAIN_EXE;
#else
const char* const kMpiexec = "";
const char* const kMpiexecNp = "";
const char* const kMpiexecFlags = "";
const char* const kTrainExe = "";
#endif

// Same reason as in test_distributed.cpp: R ranks and one rank of R times the
// batch sum the same float32 terms in another order (measured: ~2e-7).
constexpr double kLossRel = 1e-5;

struct Result {
  int rc;
  std::string output;
  double seconds;
};

// Runs a shell command with a 120 s limit (status 124 when it was hit).
Result run(const std::string& cmd) {
  const auto t0 = std::chrono::steady_clock::now();
  FILE* p = ::popen(("timeout 120 " + cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out, s};
}

std::string train_1(const std::string& args) {
  return std::string("env OMP_NUM_THREADS=1 ") + kTrainExe + " " + args;
}

std::string train_mpi(int ranks, const std::string& args, const std::string& env = "") {
  return "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 " + env + " " +
         kMpiexec + " " + kMpiexecNp + " " + std::to_string(ranks) + " " + kMpiexecFlags + " " + kTrainExe +
         " " + args;
}

void put_be32(std::ofstream& f, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  f.write(b, 4);
}

// 24 uncompressed 28x28 IDX images (and labels) under the MNIST names.
std::string write_tiny_idx(const test::TempDir& dir) {
  const fs::path d = dir.path() / "data";
  fs::create_directories(d);
  const uint32_t n = 24;
  std::ofstream im(d / "train-images-idx3-ubyte", std::ios::binary),
      lb(d / "train-labels-idx1-ubyte", std::ios::binary);
  put_be32(im, 0x00000803);
  put_be32(im, n);
  put_be32(im, 28);
  put_be32(im, 28);
  for (uint32_t i = 0; i < n * 28 * 28; ++i) im.put(static_cast<char>((i * 2654435761u) >> 24));
  put_be32(lb, 0x00000801);
  put_be32(lb, n);
  for (uint32_t i = 0; i < n; ++i) lb.put(static_cast<char>(i % 10));
  return d.string();
}

std::string common_args(const std::string& data, const fs::path& out) {
  return "--data " + data + " --out " + out.string() +
         " --base-channels 8 --time-embed-dim 16 --timesteps 100 --warmup 2 --sample-num 4 --sample-steps 2"
         " --device cpu --seed 3";
}

struct Row {
  double loss, grad_norm;
};

std::vector<Row> read_loss_csv(const fs::path& p) {
  std::ifstream f(p);
  std::string line;
  std::getline(f, line);
  std::vector<Row> rows;
  while (std::getline(f, line)) {
    long long step;
    Row r{};
    double lr, ips;
    REQUIRE(std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf", &step, &r.loss, &r.grad_norm, &lr, &ips) == 5);
    REQUIRE(step == static_cast<long long>(rows.size()));
    rows.push_back(r);
  }
  return rows;
}

void check_rows_close(const std::vector<Row>& a, const std::vector<Row>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK_MESSAGE(std::abs(a[i].loss - b[i].loss) <= kLossRel * b[i].loss, "step " << i);
    CHECK_MESSAGE(std::abs(a[i].grad_norm - b[i].grad_norm) <= kLossRel * b[i].grad_norm, "step " << i);
  }
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE(
    "mpi: tools: mpirun -np 2 ddpm-train equals one process of twice the batch, writes from rank 0, resumes "
    "on 1" *
    test::unless_missing("mpi")) {
  DDPM_REQUIRE_PRECONDITION("mpi");
  test::TempDir dir;
  const std::string data = write_tiny_idx(dir);
  const fs::path one = dir.path() / "one", two = dir.path() / "two", three = dir.path() / "three";

  const Result r1 = run(train_1(common_args(data, one) + " --batch-size 8 --steps 4"));
  REQUIRE_MESSAGE(r1.rc == 0, r1.output);
  const Result r2 = run(train_mpi(2, common_args(data, two) + " --batch-size 4 --steps 4"));
  REQUIRE_MESSAGE(r2.rc == 0, r2.output);
  check_rows_close(read_loss_csv(two / "loss.csv"), read_loss_csv(one / "loss.csv"));

  // Rank 1 is quiet: each log line once.
  CHECK_MESSAGE(count(r2.output, "ddpm-train: UNet base 8") == 1, r2.output);
  CHECK_MESSAGE(count(r2.output, "ddpm-train: wrote model.safetensors") == 1, r2.output);
  CHECK_MESSAGE(count(r2.output, "global batch 8 = 2 x 4 per rank") == 1, r2.output);
  for (const char* f : {"config.json", "loss.csv", "loss.png", "model.safetensors", "state.safetensors",
                        "forward_process.png", "samples/step_000004.png"})
    CHECK_MESSAGE(fs::exists(two / f), f);
  std::ifstream cj(two / "config.json");
  const nlohmann::json config = nlohmann::json::parse(cj);
  CHECK(config["run"]["world_size"] == 2);
  CHECK(config["run"]["global_batch"] == 8);
  const auto meta = load_safetensors((two / "state.safetensors").string()).metadata();
  CHECK(meta.at("world_size") == "2");
  CHECK(meta.at("batch_size") == "4");

  // 3 ranks cannot split the global batch of 8: refused, saying why.
  fs::copy(two, three, fs::copy_options::recursive);
  const Result r3 = run(train_mpi(3, common_args(data, three) + " --steps 6 --resume"));
  CHECK(r3.rc != 0);
  CHECK(r3.rc != 124);
  test::check_contains(r3.output, {"global batch of 8 (2 rank(s) x 4)", "3 ranks cannot split evenly"});
  // A --batch-size that does not give the global batch on 1 rank: refused.
  const Result r4 = run(train_1(common_args(data, three) + " --steps 6 --resume --batch-size 4"));
  CHECK(r4.rc == 1);
  test::check_contains(r4.output,
                       {"--batch-size 4 per rank with 1 rank(s)", "global batch 8", "it becomes 8"});

  // The 2-rank run continued on 1 rank (batch 8, taken from the checkpoint)
  // follows the 1-rank run continued the same way.
  const Result c1 = run(train_1(common_args(data, one) + " --steps 6 --resume"));
  REQUIRE_MESSAGE(c1.rc == 0, c1.output);
  const Result c2 = run(train_1(common_args(data, two) + " --steps 6 --resume"));
  REQUIRE_MESSAGE(c2.rc == 0, c2.output);
  check_rows_close(read_loss_csv(two / "loss.csv"), read_loss_csv(one / "loss.csv"));
  CHECK(load_safetensors((two / "state.safetensors").string()).metadata().at("world_size") == "1");
}

TEST_CASE("mpi: tools: a rank killed during mpirun ddpm-train stops the job" * test::unless_missing("mpi")) {
  DDPM_REQUIRE_PRECONDITION("mpi");
  test::TempDir dir;
  const std::string data = write_tiny_idx(dir);
  // Collective 10 is in the second step (5 broadcasts at start, then 3 per step).
  const Result r = run(train_mpi(2, common_args(data, dir.path() / "run") + " --batch-size 4 --steps 200",
                                 "DDPM_TEST_FAULT=die:1:10"));
  test::check_contains(r.output, {"rank 1: DDPM_TEST_FAULT: dying at collective #10"});
  CHECK(r.rc != 0);
  CHECK_MESSAGE(r.rc != 124, "mpirun hung: " << r.output);
  CHECK(r.seconds < 60);
}

TEST_CASE("mpi: tools: a hanging rank makes the others stop after --dist-timeout" *
          test::unless_missing("mpi")) {
  DDPM_REQUIRE_PRECONDITION("mpi");
  test::TempDir dir;
  const std::string data = write_tiny_idx(dir);
  const Result r =
      run(train_mpi(2, common_args(data, dir.path() / "run") + " --batch-size 4 --steps 200 --dist-timeout 5",
                    "DDPM_TEST_FAULT=hang:1:10"));
  test::check_contains(r.output,
                       {"rank 1: DDPM_TEST_FAULT: hanging at collective #10",
                        "rank 0: no answer from the other ranks for 5 s in allreduce_mean (collective #10)"});
  CHECK(r.rc != 0);
  CHECK_MESSAGE(r.rc != 124, "mpirun hung: " << r.output);
  CHECK(r.seconds < 60);
}
