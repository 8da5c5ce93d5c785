// Resuming a run (diffusion/resume.h): the checkpoint's configuration merged
// with the flags, the data check, and reading the state's metadata.
#include <doctest/doctest.h>

#include <filesystem>

#include "diffusion/resume.h"
#include "diffusion/trainer.h"
#include "io/atomic_file.h"
#include "io_util.h"
#include "tensor/rng.h"
#include "thread_comm.h"

using namespace ddpm;

namespace {

TrainConfig saved_config() {
  TrainConfig c;
  c.model = nn::UNetConfig{1, 8, 16, nn::TimeEmbedding::sinusoidal, 8};
  c.timesteps = 100;
  c.batch_size = 8;
  c.lr = 2e-4;
  c.seed = 5;
  return c;
}

// A checkpoint's metadata: its configuration and rank count.
Metadata saved_meta(const TrainConfig& c, int world_size) {
  Metadata m = c.to_map();
  m["world_size"] = std::to_string(world_size);
  return m;
}

const std::string kState = "/runs/a/state.safetensors";

}  // namespace

TEST_CASE("diffusion: resume takes the checkpoint's configuration over flags not given") {
  const TrainConfig saved = saved_config();
  TrainConfig flags;  // every default differs from saved_config somewhere
  flags.prediction = Prediction::v;
  flags.lr = 0.5;
  const TrainConfig merged = merge_resume_config(flags, {}, saved_meta(saved, 1), 1, kState);
  CHECK(merged.to_map() == saved.to_map());
  CHECK(merged.prediction == Prediction::epsilon);
  CHECK(merged.lr == 2e-4);
}

TEST_CASE("diffusion: resume accepts given flags that agree and names one that differs") {
  const TrainConfig saved = saved_config();
  TrainConfig flags = saved;
  CHECK(
      merge_resume_config(flags, {{"--lr", "lr"}, {"--seed", "seed"}}, saved_meta(saved, 1), 1, kState).lr ==
      2e-4);

  flags.prediction = Prediction::v;
  // Not given: the checkpoint's value, silently.
  CHECK(merge_resume_config(flags, {{"--lr", "lr"}}, saved_meta(saved, 1), 1, kState).prediction ==
        Prediction::epsilon);
  const std::string msg = test::error_message<std::runtime_error>([&] {
    merge_resume_config(flags, {{"--lr", "lr"}, {"--prediction", "prediction"}}, saved_meta(saved, 1), 1,
                        kState);
  });
  CHECK(msg == "--resume: --prediction v differs from the checkpoint's prediction=epsilon (" + kState +
                   "); drop the flag to continue with the checkpoint's value");
  // The first differing flag in the order given is the one reported.
  flags.seed = 9;
  test::check_contains(test::error_message<std::runtime_error>([&] {
                         merge_resume_config(flags, {{"--seed", "seed"}, {"--prediction", "prediction"}},
                                             saved_meta(saved, 1), 1, kState);
                       }),
                       {"--resume: --seed 9 differs from the checkpoint's seed=5"});
}

TEST_CASE("diffusion: resume on another rank count keeps the global batch") {
  const TrainConfig saved = saved_config();  // batch 8 on 2 ranks: global 16
  const Metadata meta = saved_meta(saved, 2);
  CHECK(merge_resume_config(saved, {}, meta, 1, kState).batch_size == 16);
  CHECK(merge_resume_config(saved, {}, meta, 4, kState).batch_size == 4);
  TrainConfig flags = saved;
  flags.batch_size = 4;
  CHECK(merge_resume_config(flags, {{"--batch-size", "batch_size"}}, meta, 4, kState).batch_size == 4);
  flags.batch_size = 8;
  CHECK(test::error_message<std::runtime_error>([&] {
          merge_resume_config(flags, {{"--batch-size", "batch_size"}}, meta, 4, kState);
        }) ==
        "--resume: --batch-size 8 per rank with 4 rank(s) does not give the checkpoint's global batch 16 (" +
            kState + "); drop the flag (it becomes 4)");
  // A global batch the ranks cannot share evenly.
  CHECK(test::error_message<std::runtime_error>([&] { merge_resume_config(saved, {}, meta, 3, kState); }) !=
        "<no exception>");
}

TEST_CASE("diffusion: resume reports bad checkpoint metadata with the file") {
  Metadata meta = saved_meta(saved_config(), 1);
  meta.erase("timesteps");
  test::check_contains(test::error_message<std::runtime_error>(
                           [&] { merge_resume_config(saved_config(), {}, meta, 1, kState); }),
                       {"--resume: " + kState + ": bad __metadata__: ", "timesteps"});
}

TEST_CASE("diffusion: resume without --data uses the data the run was started with") {
  const Metadata saved = {{"data.spec", "/data/pngs"}};
  CHECK(resume_data_spec("fashion-mnist", false, saved) == "/data/pngs");
  CHECK(resume_data_spec("/other", true, saved) == "/other");
  CHECK(resume_data_spec("fashion-mnist", false, {}) == "fashion-mnist");
}

TEST_CASE("diffusion: resume refuses data of another geometry, ignoring where it came from") {
  const Metadata saved = {
      {"data.source", "pngs in /a"}, {"data.spec", "/a"}, {"data.height", "32"}, {"data.channels", "1"}};
  CHECK_NOTHROW(check_resume_data(
      {{"data.source", "other"}, {"data.spec", "/b"}, {"data.height", "32"}, {"data.extra", "7"}}, saved,
      "/b", kState));
  CHECK(test::error_message<std::runtime_error>([&] {
          check_resume_data({{"data.height", "64"}}, saved, "/b", kState);
        }) == "--resume: --data '/b' has data.height=64, but " + kState +
                  " was trained on data.height=32 (data 'pngs in /a'); pass the --data it was trained on");
  test::check_contains(test::error_message<std::runtime_error>([&] {
                         check_resume_data({{"data.channels", "3"}}, {{"data.channels", "1"}}, "x", kState);
                       }),
                       {"(data '?')"});
}

TEST_CASE("diffusion: a new run refuses a folder that holds one; resume needs a state file") {
  test::TempDir dir;
  CHECK_NOTHROW(refuse_existing_run(dir.path().string()));
  const std::string state = dir.file("state.safetensors");
  CHECK(test::error_message<std::runtime_error>([&] {
          read_resume_metadata(state, dist::single_process());
        }) == "--resume: nothing to resume: " + state + " does not exist");

  Trainer tr(saved_config(), rand_uniform({8, 1, 8, 8}, -1.0, 1.0, 11, 3));
  tr.save_state(state, {{"data.spec", "/somewhere"}});
  CHECK(test::error_message<std::runtime_error>([&] { refuse_existing_run(dir.path().string()); }) ==
        dir.path().string() +
            " already holds a run (state.safetensors): pass --resume to continue it, or choose "
            "another --out");
  const Metadata meta = read_resume_metadata(state, dist::single_process());
  CHECK(meta.at("data.spec") == "/somewhere");
  CHECK(meta.at("world_size") == "1");
  CHECK(merge_resume_config(TrainConfig{}, {}, meta, 1, state).to_map() == saved_config().to_map());

  // With more ranks, only rank 0 reads the file; every rank gets its metadata.
  test::ThreadGroup group(2);
  std::vector<Metadata> got(2);
  group.run([&](dist::Communicator& comm) {
    got[static_cast<size_t>(comm.rank())] =
        read_resume_metadata(comm.rank() == 0 ? state : dir.file("not-on-this-machine"), comm);
  });
  CHECK(got[0] == meta);
  CHECK(got[1] == meta);
}
