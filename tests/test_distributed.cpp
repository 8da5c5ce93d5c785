// Data-parallel training (dist/distributed.h and the sharded Trainer step), in
// three settings:
//   diffusion: ...   ranks simulated by threads (tests/thread_comm.h): the
//                    sharding, the averaging and resume across rank counts,
//                    in every build;
//   distributed: ... real MPI: CTest runs these under `mpirun -np 2` (the
//                    `distributed` group); a bare run skips them, under
//                    CTest (--no-skip) they fail when not started by mpirun;
//   mpi: tools: ...  ddpm-train under mpirun, run from this (single) process
//                    (test_distributed_tools.cpp): what rank 0 writes, resume,
//                    a rank that dies or hangs. CTest entry `mpi`, skipped
//                    when the build has no MPI.
//
// Tolerances. R ranks of batch B and one rank of batch R*B compute the same
// quantities in a different float32 summation order: each rank sums its B
// rows' gradient contributions (scaled by 1/B), the all-reduce adds the R
// partial means and divides by R, while one rank sums all R*B rows (scaled
// by 1/(R*B)) in one pass. The results differ by reassociation only, a few
// float32 ulps per gradient element; see kLossRel and kWeightAbs below.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "diffusion/trainer.h"
#include "dist/distributed.h"
#include "io/safetensors.h"
#include "io_util.h"
#include "tensor/rng.h"
#include "thread_comm.h"

using namespace ddpm;

namespace {

// Loss and gradient norm of R ranks vs one rank: both are means over the same
// thousands of float32 terms summed in another order (relative error ~1e-7
// per sum), carried through a few Adam steps (measured: 2e-7); a wrong image,
// timestep or noise draw in a batch of 8 changes them by ~1e-2.
constexpr double kLossRel = 1e-5;
// The first step's gradient, element by element, against its largest
// element: reassociation moves each by a few ulps of the terms summed
// (measured: 5e-7 of the largest).
constexpr double kGradRel = 1e-5;
// Weights: the update (weights - initial weights), compared in the L2 norm.
// Adam divides each gradient element by its own RMS, which turns the
// rounding noise of an element whose gradient is near zero into a step of
// size ~lr, so single elements can differ by ~lr; in the norm over all
// weights this stays ~1e-5 of the update (measured: 1.6e-5 after 5 steps),
// while samples on the wrong rank change it by O(1) (measured: 1.2).
constexpr double kUpdateRel = 1e-4;
// A parameter whose gradient is rounding noise: the loss does not depend on
// it (a conv bias right before a GroupNorm, which subtracts the group mean:
// enc1/dec1's conv biases, gradients ~1e-9 against 1e-1). Adam moves it by
// ~lr in a direction set by the noise, so it is left out of the comparison.
constexpr double kGaugeRel = 1e-6;

Tensor tiny_images(int64_t n) { return rand_uniform({n, 1, 8, 8}, -1.0, 1.0, 11, 3); }

TrainConfig tiny_config(int64_t batch) {
  TrainConfig c;
  c.model = nn::UNetConfig{1, 8, 16, nn::TimeEmbedding::sinusoidal, 8};
  c.timesteps = 100;
  c.batch_size = batch;
  c.lr = 1e-3;
  c.warmup_steps = 2;
  c.grad_clip = 1.0;  // active: the first norms are above 1
  c.ema_decay = 0.9;
  c.seed = 7;
  return c;
}

struct Run {
  std::vector<double> losses, norms;
  std::vector<float> params0, grads0;  // before the first step here; its (clipped) gradient
  std::vector<float> params, ema;      // at the end
  std::vector<nn::FlatSlice> slices;
};

void train(Trainer& tr, int64_t steps, Run& run) {
  run.params0 = tr.flat().params().to_vector<float>();
  run.slices = tr.flat().slices();
  for (int64_t i = 0; i < steps; ++i) {
    const Trainer::StepResult r = tr.step();
    if (i == 0) run.grads0 = tr.flat().grads().to_vector<float>();
    run.losses.push_back(r.loss);
    run.norms.push_back(r.grad_norm);
  }
  run.params = tr.flat().params().to_vector<float>();
  run.ema = tr.sampling_weights().to_vector<float>();
}

double max_abs(const std::vector<float>& a) {
  double m = 0;
  for (float v : a) m = std::max(m, static_cast<double>(std::abs(v)));
  return m;
}

// ||(a - base) - (b - base)|| / ||b - base|| over the elements not masked out.
double update_rel_diff(const std::vector<float>& a, const std::vector<float>& b,
                       const std::vector<float>& base, const std::vector<bool>& skip) {
  REQUIRE(a.size() == b.size());
  REQUIRE(b.size() == base.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (skip[i]) continue;
    diff += std::pow(static_cast<double>(a[i]) - b[i], 2);
    norm += std::pow(static_cast<double>(b[i]) - base[i], 2);
  }
  return std::sqrt(diff / norm);
}

// Elements of parameters whose gradient (in ref's first step) is rounding noise.
std::vector<bool> gauge_mask(const Run& ref) {
  const double g = max_abs(ref.grads0);
  std::vector<bool> skip(ref.grads0.size(), false);
  int64_t skipped = 0;
  for (const nn::FlatSlice& sl : ref.slices) {
    const auto first = ref.grads0.begin() + sl.offset;
    const std::vector<float> part(first, first + shape_numel(sl.shape));
    if (max_abs(part) >= kGaugeRel * g) continue;
    for (size_t i = 0; i < part.size(); ++i) skip[static_cast<size_t>(sl.offset) + i] = true;
    skipped += static_cast<int64_t>(part.size());
  }
  CHECK(skipped < static_cast<int64_t>(skip.size()) / 100);  // a few biases, not the model
  return skip;
}

// `many` (R ranks) against `one` (1 rank, R times the batch). The weights'
// update is measured from one.params0; with first_grads, many's first step
// started there too.
void check_close(const Run& many, const Run& one, bool first_grads = true) {
  REQUIRE(many.losses.size() == one.losses.size());
  for (size_t i = 0; i < one.losses.size(); ++i) {
    CHECK_MESSAGE(std::abs(many.losses[i] - one.losses[i]) <= kLossRel * std::abs(one.losses[i]),
                  "step " << i << ": loss " << many.losses[i] << " vs " << one.losses[i]);
    CHECK_MESSAGE(std::abs(many.norms[i] - one.norms[i]) <= kLossRel * std::abs(one.norms[i]),
                  "step " << i << ": grad norm " << many.norms[i] << " vs " << one.norms[i]);
  }
  if (first_grads) {
    REQUIRE(many.grads0.size() == one.grads0.size());
    double d = 0;
    for (size_t i = 0; i < one.grads0.size(); ++i)
      d = std::max(d, std::abs(static_cast<double>(many.grads0[i]) - one.grads0[i]));
    CHECK(d <= kGradRel * max_abs(one.grads0));
    CHECK(many.params0 == one.params0);
  }
  const std::vector<bool> skip = gauge_mask(one);
  CHECK(update_rel_diff(many.params, one.params, one.params0, skip) <= kUpdateRel);
  CHECK(update_rel_diff(many.ema, one.ema, one.params0, skip) <= kUpdateRel);
}

// 20 images, global batch 8: 2 batches per epoch (4 rows dropped), so 5 steps
// cross two epoch boundaries.
constexpr int64_t kImages = 20, kSteps = 5;

}  // namespace

TEST_CASE("diffusion: 2 ranks of batch B train exactly as 1 rank of batch 2B (ranks as threads)") {
  const Tensor images = tiny_images(kImages);
  Run one;
  {
    Trainer tr(tiny_config(8), images);
    train(tr, kSteps, one);
  }
  for (int ranks : {2, 4}) {
    CAPTURE(ranks);
    std::vector<Run> runs(static_cast<size_t>(ranks));
    std::vector<int64_t> per_epoch(runs.size()), global(runs.size());
    test::ThreadGroup group(ranks);
    group.run([&](dist::Communicator& comm) {
      Trainer tr(tiny_config(8 / ranks), images, Device::cpu, comm);
      per_epoch[static_cast<size_t>(comm.rank())] = tr.batches_per_epoch();
      global[static_cast<size_t>(comm.rank())] = tr.global_batch();
      train(tr, kSteps, runs[static_cast<size_t>(comm.rank())]);
    });
    for (const Run& r : runs) {
      // Every rank reports the global loss and holds the same weights.
      CHECK(r.losses == runs[0].losses);
      CHECK(r.params == runs[0].params);
    }
    CHECK(per_epoch[0] == 2);
    CHECK(global[0] == 8);
    check_close(runs[0], one);
  }
}

TEST_CASE("diffusion: a state saved by 2 ranks resumes on 1 rank with the same global batch, and back") {
  const Tensor images = tiny_images(kImages);
  test::TempDir dir;
  const std::string from2 = dir.file("from2.safetensors"), from1 = dir.file("from1.safetensors");
  Run straight;  // one rank, batch 8, uninterrupted
  {
    Trainer tr(tiny_config(8), images);
    train(tr, kSteps, straight);
  }
  test::ThreadGroup group(2);
  group.run([&](dist::Communicator& comm) {
    Trainer tr(tiny_config(4), images, Device::cpu, comm);
    for (int i = 0; i < 3; ++i) tr.step();
    if (comm.rank() == 0) tr.save_state(from2);
  });
  CHECK(load_safetensors(from2).metadata().at("world_size") == "2");
  CHECK(load_safetensors(from2).metadata().at("batch_size") == "4");

  Run resumed_on_1;
  {
    Trainer tr(tiny_config(8), images);
    tr.load_state(from2);
    CHECK(tr.step_count() == 3);
    for (int i = 0; i < 3; ++i) resumed_on_1.losses.push_back(straight.losses[static_cast<size_t>(i)]);
    for (int i = 0; i < 3; ++i) resumed_on_1.norms.push_back(straight.norms[static_cast<size_t>(i)]);
    train(tr, kSteps - 3, resumed_on_1);
    tr.save_state(from1);
  }
  check_close(resumed_on_1, straight, false);

  // A global batch that differs is refused, naming both.
  const std::string msg = test::error_message<std::runtime_error>([&] {
    Trainer tr(tiny_config(4), images);
    tr.load_state(from2);
  });
  test::check_contains(msg, {"from2.safetensors", "global batch is 8", "this run's is 4", "must be 8"});

  // And back: the 1-rank state (5 steps) continues on 2 ranks of batch 4.
  std::vector<Run> runs(2);
  group.run([&](dist::Communicator& comm) {
    Trainer tr(tiny_config(4), images, Device::cpu, comm);
    tr.load_state(from1);
    train(tr, 2, runs[static_cast<size_t>(comm.rank())]);
  });
  Run straight7;
  {
    Trainer tr(tiny_config(8), images);
    train(tr, kSteps + 2, straight7);
  }
  CHECK(runs[1].params == runs[0].params);
  Run back = runs[0];
  back.losses.insert(back.losses.begin(), straight7.losses.begin(), straight7.losses.begin() + kSteps);
  back.norms.insert(back.norms.begin(), straight7.norms.begin(), straight7.norms.begin() + kSteps);
  check_close(back, straight7, false);
}

TEST_CASE("diffusion: ranks that loaded different data sets refuse to train") {
  std::vector<std::string> errors(2);
  test::ThreadGroup group(2);
  group.run([&](dist::Communicator& comm) {
    Tensor images = tiny_images(kImages);
    if (comm.rank() == 1) images.data<float>()[5] += 0.5f;  // one pixel differs
    errors[static_cast<size_t>(comm.rank())] = test::error_message<std::runtime_error>(
        [&] { Trainer tr(tiny_config(4), images, Device::cpu, comm); });
  });
  test::check_contains(errors[0], {"the ranks loaded different data sets", "on rank 0", "same --data"});
  test::check_contains(errors[1], {"the ranks loaded different data sets", "on rank 1"});
}

TEST_CASE("diffusion: the per-rank batch for resuming on another rank count") {
  const std::map<std::string, std::string> two_by_4 = {{"batch_size", "4"}, {"world_size", "2"}};
  CHECK(per_rank_batch_for_resume(two_by_4, 1) == 8);
  CHECK(per_rank_batch_for_resume(two_by_4, 2) == 4);
  CHECK(per_rank_batch_for_resume(two_by_4, 8) == 1);
  CHECK(per_rank_batch_for_resume({{"batch_size", "6"}}, 3) == 2);  // states from before world_size: 1 rank
  test::check_contains(
      test::error_message<std::runtime_error>([&] { per_rank_batch_for_resume(two_by_4, 3); }),
      {"global batch of 8", "2 rank(s) x 4", "3 ranks cannot split evenly", "divides 8"});
  CHECK(test::error_message<std::runtime_error>([&] { per_rank_batch_for_resume(two_by_4, 16); }) !=
        "<no exception>");
}

TEST_CASE("diffusion: the single-process communicator is rank 0 of 1 and changes nothing") {
  dist::Communicator& c = dist::single_process();
  CHECK(c.rank() == 0);
  CHECK(c.size() == 1);
  Tensor t = Tensor::from_vector(std::vector<float>{1.5f, -2.f}, {2});
  c.allreduce_mean(t);
  c.broadcast(t, 0);
  CHECK(t.to_vector<float>() == std::vector<float>{1.5f, -2.f});
  CHECK(dist::any_rank(c, true));
  CHECK_FALSE(dist::any_rank(c, false));
  CHECK(c.all_equal(42));
  if (!dist::launched_by_mpi()) CHECK(&dist::world() == &c);
}

// ---- real MPI: under mpirun -np 2 (CTest group `distributed`) ----
// A bare run of the binary skips these (the decorator); CTest runs them under
// mpirun with --no-skip, where a rank that does not see mpirun fails instead
// of passing with nothing run.
static void require_mpirun() {
  REQUIRE_MESSAGE(dist::launched_by_mpi(),
                  "not started by mpirun: the `distributed` CTest entry runs these cases "
                  "under mpirun -np 2");
}

TEST_CASE("distributed: collectives over MPI" * doctest::skip(!dist::launched_by_mpi())) {
  require_mpirun();
  dist::Communicator& c = dist::world();
  REQUIRE(c.size() >= 2);
  c.set_timeout(120);  // a failed REQUIRE on one rank must not hang the other
  const double R = c.size(), r = c.rank();
  Tensor f =
      Tensor::from_vector(std::vector<float>{static_cast<float>(r + 1), static_cast<float>(10 * r)}, {2});
  c.allreduce_mean(f);
  // Means of small integers over 2 ranks: exact in float.
  CHECK(f.to_vector<float>() ==
        std::vector<float>{static_cast<float>((R + 1) / 2), static_cast<float>(5 * (R - 1))});
  Tensor d = Tensor::from_vector(std::vector<double>{r * r}, {1});
  c.allreduce_mean(d);
  CHECK(d.item() == doctest::Approx((R - 1) * (2 * R - 1) / 6));  // sum of squares / R

  Tensor b = Tensor::from_vector(std::vector<float>{static_cast<float>(r), 7.f}, {2});
  c.broadcast(b, 1);
  CHECK(b.to_vector<float>() == std::vector<float>{1.f, 7.f});
  std::string s = c.rank() == 0 ? std::string("from rank 0 \0 with a NUL", 24) : std::string("x");
  c.broadcast(s, 0);
  CHECK(s == std::string("from rank 0 \0 with a NUL", 24));

  CHECK(c.all_equal(123));
  CHECK_FALSE(c.all_equal(static_cast<uint64_t>(c.rank())));
  CHECK(dist::any_rank(c, c.rank() == 1));
  CHECK_FALSE(dist::any_rank(c, false));
  c.barrier();
  CHECK(c.describe().find("MPI, " + std::to_string(c.size()) + " ranks") == 0);
}

TEST_CASE("distributed: 2 MPI ranks of batch B give the losses and weights of 1 rank of batch 2B" *
          doctest::skip(!dist::launched_by_mpi())) {
  require_mpirun();
  dist::Communicator& c = dist::world();
  REQUIRE(c.size() == 2);
  c.set_timeout(120);
  const Tensor images = tiny_images(kImages);
  Run one, many;
  {
    Trainer tr(tiny_config(8), images);  // the reference, in this process
    train(tr, kSteps, one);
  }
  Trainer tr(tiny_config(4), images, Device::cpu, c);
  train(tr, kSteps, many);
  CHECK(tr.replicas_in_sync());
  check_close(many, one);
  // MPI hands both ranks the same bytes.
  CHECK(c.all_equal(std::hash<std::string>()(
      std::string(reinterpret_cast<const char*>(many.params.data()), many.params.size() * sizeof(float)))));
}

TEST_CASE(
    "distributed: a 2-rank run resumed from rank 0's checkpoint repeats the uninterrupted run bit for bit" *
    doctest::skip(!dist::launched_by_mpi())) {
  require_mpirun();
  dist::Communicator& c = dist::world();
  REQUIRE(c.size() == 2);
  c.set_timeout(120);
  const Tensor images = tiny_images(kImages);
  std::optional<test::TempDir> dir;
  std::string path;
  if (c.rank() == 0) {
    dir.emplace();
    path = dir->file("state.safetensors");
  }
  c.broadcast(path, 0);
  Run straight, resumed;
  {
    Trainer tr(tiny_config(4), images, Device::cpu, c);
    train(tr, kSteps, straight);
  }
  {
    Trainer tr(tiny_config(4), images, Device::cpu, c);
    for (int i = 0; i < 2; ++i) resumed.losses.push_back(tr.step().loss);
    if (c.rank() == 0) tr.save_state(path);
    c.barrier();
  }
  Trainer tr(tiny_config(4), images, Device::cpu, c);
  tr.load_state(path);  // read by rank 0, broadcast to rank 1
  CHECK(tr.step_count() == 2);
  for (int64_t i = 2; i < kSteps; ++i) resumed.losses.push_back(tr.step().loss);
  CHECK(resumed.losses == straight.losses);
  CHECK(tr.flat().params().to_vector<float>() == straight.params);
  CHECK(tr.sampling_weights().to_vector<float>() == straight.ema);
}
