// The learning rate per step (diffusion/lr_schedule.h): warm-up, constant and
// cosine decay; the configuration keys that carry it, old files without them;
// and the trainer taking its rate from it.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "diffusion/lr_schedule.h"
#include "diffusion/train_config.h"
#include "diffusion/trainer.h"
#include "tensor/rng.h"

using namespace ddpm;

TEST_CASE("diffusion: lr schedule: warm-up, then constant") {
  CHECK(learning_rate(1e-3, 4, LrSchedule::constant, 0, 0) == doctest::Approx(0.25e-3).epsilon(1e-15));
  CHECK(learning_rate(1e-3, 4, LrSchedule::constant, 0, 2) == doctest::Approx(0.75e-3).epsilon(1e-15));
  for (int64_t s : {3, 4, 100, 100000}) CHECK(learning_rate(1e-3, 4, LrSchedule::constant, 0, s) == 1e-3);
  CHECK(learning_rate(1e-3, 0, LrSchedule::constant, 0, 0) == 1e-3);
}

TEST_CASE("diffusion: lr schedule: cosine decays from the end of the warm-up to 0 at the decay step") {
  const double lr = 2e-3;
  const int64_t W = 10, D = 110;
  // The warm-up is the constant schedule's.
  for (int64_t s = 0; s < W; ++s)
    CHECK(learning_rate(lr, W, LrSchedule::cosine, D, s) ==
          doctest::Approx(learning_rate(lr, W, LrSchedule::constant, 0, s)).epsilon(1e-12));
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, W) == doctest::Approx(lr).epsilon(1e-15));
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, W + 50) == doctest::Approx(lr / 2).epsilon(1e-12));
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, W + 25) ==
        doctest::Approx(lr * 0.5 * (1 + std::cos(std::numbers::pi / 4))).epsilon(1e-12));
  // The last step of a D-step run still moves; from D on the rate is 0.
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, D - 1) > 0);
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, D - 1) < lr * 1e-3);
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, D) == 0);
  CHECK(learning_rate(lr, W, LrSchedule::cosine, D, D + 7) == 0);
  double prev = lr;
  for (int64_t s = W; s <= D; ++s) {
    const double r = learning_rate(lr, W, LrSchedule::cosine, D, s);
    CHECK(r <= prev);
    prev = r;
  }
  // Without a warm-up the decay starts at step 0.
  CHECK(learning_rate(lr, 0, LrSchedule::cosine, 4, 0) == lr);
  CHECK(learning_rate(lr, 0, LrSchedule::cosine, 4, 2) == doctest::Approx(lr / 2).epsilon(1e-12));
}

TEST_CASE("diffusion: lr schedule names, and the configuration keys that carry it") {
  CHECK(parse_lr_schedule("cosine") == LrSchedule::cosine);
  CHECK(std::string(lr_schedule_name(LrSchedule::constant)) == "constant");
  CHECK_THROWS_WITH_AS(parse_lr_schedule("linear"),
                       "unknown learning-rate schedule 'linear' (expected constant or cosine)",
                       std::invalid_argument);
  TrainConfig c;
  c.lr_schedule = LrSchedule::cosine;
  c.lr_decay_steps = 1700;
  auto m = c.to_map();
  CHECK(m.at("lr_schedule") == "cosine");
  CHECK(m.at("lr_decay_steps") == "1700");
  const TrainConfig back = TrainConfig::from_map(m);
  CHECK(back.lr_schedule == LrSchedule::cosine);
  CHECK(back.lr_decay_steps == 1700);
  CHECK(back.learning_rate_at(850) == c.learning_rate_at(850));
  // A file written before the keys existed: constant, as it was trained.
  m.erase("lr_schedule");
  m.erase("lr_decay_steps");
  const TrainConfig old = TrainConfig::from_map(m);
  CHECK(old.lr_schedule == LrSchedule::constant);
  CHECK(old.lr_decay_steps == 0);
  m["lr_schedule"] = "step";
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(m),
                       doctest::Contains("configuration: unknown learning-rate schedule 'step'"),
                       std::invalid_argument);
  m["lr_schedule"] = "cosine";
  m["lr_decay_steps"] = "100";  // = warmup_steps: nothing to decay over
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(m), doctest::Contains("expected more steps than warm-up steps"),
                       std::invalid_argument);
  m["lr_decay_steps"] = "-1";
  CHECK_THROWS_WITH_AS(TrainConfig::from_map(m), doctest::Contains("lr_decay_steps must be in"),
                       std::invalid_argument);
}

TEST_CASE("diffusion: the trainer steps with the schedule's learning rate") {
  TrainConfig c;
  c.model = nn::UNetConfig{1, 8, 16, nn::TimeEmbedding::sinusoidal, 8};
  c.timesteps = 20;
  c.batch_size = 4;
  c.warmup_steps = 2;
  c.lr_schedule = LrSchedule::cosine;
  c.lr_decay_steps = 6;
  Trainer tr(c, rand_uniform({8, 1, 8, 8}, -1.0, 1.0, 11, 3));
  for (int64_t s = 0; s < 6; ++s) {
    CAPTURE(s);
    CHECK(tr.step().lr == c.learning_rate_at(s));
  }
  CHECK(c.learning_rate_at(5) < c.learning_rate_at(2));
}
