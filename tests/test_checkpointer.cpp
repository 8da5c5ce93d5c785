// The run folder's checkpoints and pictures (diffusion/checkpointer.h): the
// cadence, which files each step writes, the non-finite and write-failure
// guards, resuming, and config.json; with a tiny UNet on 8x8 images.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "diffusion/checkpointer.h"
#include "io/atomic_file.h"
#include "io/data.h"
#include "io/safetensors.h"
#include "io_util.h"
#include "tensor/rng.h"

using namespace ddpm;
namespace fs = std::filesystem;

namespace {

TrainConfig tiny_config() {
  TrainConfig c;
  c.model = nn::UNetConfig{1, 8, 16, nn::TimeEmbedding::sinusoidal, 8};
  c.timesteps = 20;
  c.batch_size = 4;
  c.warmup_steps = 2;
  c.ema_decay = 0.9;
  c.seed = 3;
  return c;
}

Tensor tiny_images() { return rand_uniform({8, 1, 8, 8}, -1.0, 1.0, 11, 3); }

Checkpointer::Options tiny_options(const fs::path& dir, int64_t steps, int64_t checkpoint_every,
                                   int64_t sample_every) {
  fs::create_directories(dir / "samples");
  Checkpointer::Options o;
  o.dir = dir.string();
  o.cadence = CheckpointCadence::for_run(steps, checkpoint_every, sample_every);
  o.samples = {4, 2, 1.0, CropBox{}, 8, 8};
  o.meta = {{"data.spec", "/data/sets/test"}, {"data.source", "/data/sets/test (train)"}};
  o.shared_meta = shareable_data_metadata(o.meta);
  return o;
}

// Every regular file under dir, relative, with '/' separators.
std::set<std::string> files_under(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).generic_string());
  return out;
}

// One training step, logged the way ddpm-train logs it.
void train_step(Trainer& tr, Checkpointer& ck) {
  const int64_t s = tr.step_count();
  const Trainer::StepResult r = tr.step();
  ck.record({s, r.loss, r.grad_norm, r.lr, 100.0});
}

}  // namespace

TEST_CASE("diffusion: checkpoint cadence: defaults, explicit intervals and the last step") {
  const CheckpointCadence d = CheckpointCadence::for_run(800);
  CHECK(d.checkpoint_every == 80);
  CHECK(d.sample_every == 160);
  CHECK(d.checkpoint_due(80));
  CHECK(d.checkpoint_due(800));
  CHECK_FALSE(d.checkpoint_due(79));
  CHECK(d.samples_due(160));
  CHECK_FALSE(d.samples_due(80));

  const CheckpointCadence small =
      CheckpointCadence::for_run(7);  // steps/10 and steps/5 round to 0: every step
  CHECK(small.checkpoint_every == 1);
  CHECK(small.sample_every == 1);

  const CheckpointCadence c = CheckpointCadence::for_run(25, 10, 30);
  CHECK(c.checkpoint_due(10));
  CHECK(c.checkpoint_due(20));
  CHECK_FALSE(c.checkpoint_due(24));
  CHECK(c.checkpoint_due(25));  // the last step always
  CHECK_FALSE(c.samples_due(24));
  CHECK(c.samples_due(25));
}

TEST_CASE("diffusion: checkpoint sample grids are named by the step, six digits at least") {
  CHECK(Checkpointer::sample_name(120) == "step_000120.png");
  CHECK(Checkpointer::sample_name(1) == "step_000001.png");
  CHECK(Checkpointer::sample_name(1234567) == "step_1234567.png");
}

TEST_CASE("diffusion: checkpointer writes the files it says, step by step, and loss.csv holds every row") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "run";
  Trainer tr(tiny_config(), tiny_images());
  Checkpointer ck(tr, tiny_options(dir, 5, 2, 3), true, false);
  CHECK(ck.last_checkpoint() == -1);
  CHECK(ck.files_after_step(1).empty());
  CHECK(ck.files_after_step(2) ==
        std::vector<std::string>{"loss.csv", "model.safetensors", "state.safetensors"});
  CHECK(ck.files_after_step(3) == std::vector<std::string>{"samples/step_000003.png", "loss.png"});
  CHECK(ck.files_after_step(5).size() == 5);
  CHECK(ck.state_path() == (dir / "state.safetensors").string());

  for (int64_t done = 1; done <= 5; ++done) {
    CAPTURE(done);
    train_step(tr, ck);
    ck.after_step(done);
    const std::vector<std::string> said = ck.files_after_step(done);
    CHECK(files_under(dir) == std::set<std::string>(said.begin(), said.end()));
    if (ck.cadence().checkpoint_due(done)) {
      CHECK(ck.last_checkpoint() == done);
      CHECK(read_file((dir / "loss.csv").string()) == format_loss_csv(ck.rows()));
      CHECK(parse_loss_csv(read_file((dir / "loss.csv").string()), 100).size() == static_cast<size_t>(done));
      const SafetensorsFile state = load_safetensors(ck.state_path());
      CHECK(state.int64s("step").at(0) == done);
      // The resume file keeps the absolute folder; the model (shared) its name.
      CHECK(state.metadata().at("data.spec") == "/data/sets/test");
      const auto model_meta = load_safetensors(ck.model_path()).metadata();
      CHECK(model_meta.at("step") == std::to_string(done));
      CHECK(model_meta.at("data.spec") == "test");
      CHECK(model_meta.at("data.source") == "test (train)");
    } else {
      CHECK(ck.last_checkpoint() == (done == 1 ? -1 : 2));
    }
    for (const std::string& f : said) fs::remove(dir / f);  // so the next step shows only what it wrote
  }
  ck.finish();
  CHECK(files_under(dir) == std::set<std::string>{"loss.png"});
}

TEST_CASE("diffusion: checkpointer refuses to save non-finite weights and keeps the last checkpoint") {
  test::TempDir tmp;
  const fs::path dir = tmp.path();
  Trainer tr(tiny_config(), tiny_images());
  Checkpointer ck(tr, tiny_options(dir, 10, 1, 10), true, false);
  train_step(tr, ck);
  ck.checkpoint(1);
  const std::string state_before = read_file(ck.state_path());
  train_step(tr, ck);
  tr.flat().params().data<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  const std::string msg = test::error_message<NonFiniteWeights>([&] { ck.checkpoint(2); });
  CHECK(msg == "the weights hold a non-finite value at flat index 5 after step 1; they were not saved");
  CHECK(read_file(ck.state_path()) == state_before);
  CHECK(parse_loss_csv(read_file((dir / "loss.csv").string()), 100).size() == 1);
  CHECK(ck.last_checkpoint() == 1);
}

TEST_CASE("diffusion: checkpointer names the checkpoint it keeps when a write fails") {
  test::TempDir tmp;
  const fs::path dir = tmp.path();
  Trainer tr(tiny_config(), tiny_images());
  Checkpointer ck(tr, tiny_options(dir, 10, 1, 10), true, false);
  fs::create_directories(dir / "model.safetensors");  // in the way of the first checkpoint
  train_step(tr, ck);
  test::check_contains(test::error_message<std::runtime_error>([&] { ck.checkpoint(1); }),
                       {"model.safetensors", "; the previous checkpoint in " + dir.string() + " is kept"});
  CHECK(ck.last_checkpoint() == -1);
  CHECK_FALSE(fs::exists(ck.state_path()));  // state last: never ahead of the model and loss.csv
  fs::remove(dir / "model.safetensors");
  ck.checkpoint(1);
  const std::string state_before = read_file(ck.state_path());
  train_step(tr, ck);
  fs::remove(ck.model_path());
  fs::create_directories(ck.model_path());
  CHECK(test::error_message<std::runtime_error>([&] {
          ck.checkpoint(2);
        }).ends_with("; the previous checkpoint (step 1) in " + dir.string() + " is kept"));
  CHECK(ck.last_checkpoint() == 1);
  CHECK(read_file(ck.state_path()) == state_before);
}

TEST_CASE(
    "diffusion: a resumed checkpointer keeps loss rows before its step and writes no second checkpoint") {
  test::TempDir tmp;
  const fs::path dir = tmp.path();
  Trainer tr(tiny_config(), tiny_images());
  tr.step();
  tr.step();
  tr.step();
  std::vector<LossRow> old;
  for (int64_t s = 0; s < 6; ++s) old.push_back({s, 0.5, 1.0, 1e-3, 10.0});
  write_file_atomic((dir / "loss.csv").string(), format_loss_csv(old));

  Checkpointer ck(tr, tiny_options(dir, 10, 5, 10), true, true);
  CHECK(ck.last_checkpoint() == 3);
  REQUIRE(ck.rows().size() == 3);
  CHECK(ck.rows().back().step == 2);
  ck.checkpoint_if_new(3);  // a stop right after resuming: the folder's checkpoint is this step
  CHECK_FALSE(fs::exists(ck.state_path()));
  train_step(tr, ck);
  ck.checkpoint_if_new(4);
  CHECK(fs::exists(ck.state_path()));
  CHECK(parse_loss_csv(read_file((dir / "loss.csv").string()), 100).size() == 4);

  // begin() on a resumed run: config.json, but no new forward-process picture.
  ck.begin(tiny_images(), CropBox{});
  CHECK(fs::exists(dir / "config.json"));
  CHECK_FALSE(fs::exists(dir / "forward_process.png"));

  // Another rank of the same run: it reads and writes nothing, but counts.
  test::TempDir other;
  Checkpointer rank1(tr, tiny_options(other.path(), 10, 5, 10), false, false);
  rank1.checkpoint(4);
  rank1.write_samples(4);
  rank1.begin(tiny_images(), CropBox{});
  rank1.finish();
  CHECK(rank1.last_checkpoint() == 4);
  CHECK(files_under(other.path()).empty());
}

TEST_CASE("diffusion: checkpointer's config.json and forward-process picture of a new run") {
  test::TempDir tmp;
  const fs::path dir = tmp.path();
  Trainer tr(tiny_config(), tiny_images());
  Checkpointer ck(tr, tiny_options(dir, 50, 0, 0), true, false);
  ck.begin(tiny_images(), CropBox{});
  CHECK(files_under(dir) == std::set<std::string>{"config.json", "forward_process.png"});
  const std::string text = read_file((dir / "config.json").string());
  CHECK(text.ends_with("}\n"));
  const nlohmann::json j = nlohmann::json::parse(text);
  CHECK(j["run"]["steps"] == 50);
  CHECK(j["run"]["checkpoint_every"] == 5);
  CHECK(j["run"]["sample_every"] == 10);
  CHECK(j["run"]["device"] == "cpu");
  CHECK(j["run"]["world_size"] == 1);
  CHECK(j["run"]["global_batch"] == 4);
  CHECK(j["run"]["parameters"] == tr.model().num_parameters());
  CHECK(j["config"]["timesteps"] == "20");
  CHECK(j["data"]["data.spec"] == "test");
  CHECK(j["data"]["data.source"] == "test (train)");
  // Five columns of 8x8 with 2 pixels of padding: 5 * 10 + 2 wide, 12 high.
  const std::string png = read_file((dir / "forward_process.png").string());
  REQUIRE(png.size() > 24);
  auto be32_at = [&](size_t i) {
    return (static_cast<uint32_t>(static_cast<uint8_t>(png[i])) << 24) |
           (static_cast<uint32_t>(static_cast<uint8_t>(png[i + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<uint8_t>(png[i + 2])) << 8) | static_cast<uint8_t>(png[i + 3]);
  };
  CHECK(be32_at(16) == 52);
  CHECK(be32_at(20) == 12);
}
