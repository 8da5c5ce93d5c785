// --precision in ddpm-train and ddpm-sample, and --export-bf16: what runs,
// what is refused (before anything is created), what the files hold.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "tensor/bf16.h"
#include "tests/tool_runner.h"

using namespace ddpm;
using namespace ddpm::test;
namespace fs = std::filesystem;

TEST_CASE(
    "tools: --precision bf16 trains on the CPU, says what runs in BF16, and either precision samples it") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run"), plain = tmp.file("plain");
  check_run(
      run_program(kTrainExe, set_flag(tiny_train_flags(tmp.file("png"), run, 2), "--precision", "fp16"), tmp),
      2, {"--precision"});
  CHECK_FALSE(fs::exists(run));

  const RunResult r =
      run_program(kTrainExe, set_flag(tiny_train_flags(tmp.file("png"), run, 3), "--precision", "bf16"), tmp);
  check_run(r, 0, {"--precision bf16 on the CPU", "BF16", "cpu bf16"});
  CHECK(nlohmann::json::parse(read_file(run + "/config.json"))["run"]["precision"] == "bf16");
  REQUIRE(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), plain, 3), tmp).status == 0);
  // The convolutions ran in BF16: the weights differ from FP32's, but the
  // optimizer keeps FP32 weights (the file stays F32).
  const SafetensorsFile fb = load_safetensors(run + "/model.safetensors"),
                        ff = load_safetensors(plain + "/model.safetensors");
  REQUIRE(fb.names() == ff.names());
  bool differs = false;
  for (const std::string& n : fb.names()) {
    CHECK(fb.tensor(n).dtype() == DType::f32);  // stored as F32
    const auto x = fb.bytes(n), y = ff.bytes(n);
    differs = differs || !std::equal(x.begin(), x.end(), y.begin(), y.end());
  }
  CHECK(differs);

  // A bf16-trained model samples at fp32, an fp32-trained one at bf16.
  for (const auto& [model, precision] : {std::pair{run, "fp32"}, std::pair{plain, "bf16"}}) {
    const std::string png = tmp.file(std::string("s-") + precision + ".png");
    const RunResult s = run_program(kSampleExe,
                                    {"--model", model + "/model.safetensors", "--num", "2", "--steps", "2",
                                     "--device", "cpu", "--precision", precision, "--out", png},
                                    tmp);
    CHECK(s.status == 0);
    CHECK(fs::exists(png));
  }
}

TEST_CASE("tools: --precision tf32 on the CPU says it runs FP32 and trains the same weights") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string a = tmp.file("a"), b = tmp.file("b");
  check_run(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), a, 2), tmp), 0, {"cpu fp32"});
  const RunResult r =
      run_program(kTrainExe, set_flag(tiny_train_flags(tmp.file("png"), b, 2), "--precision", "tf32"), tmp);
  check_run(r, 0, {"--precision tf32 on the CPU", "run", "FP32", "cpu tf32"});
  const auto config = nlohmann::json::parse(read_file(b + "/config.json"));
  CHECK(config["run"]["precision"] == "tf32");
  CHECK(nlohmann::json::parse(read_file(a + "/config.json"))["run"]["precision"] == "fp32");
  const SafetensorsFile fa = load_safetensors(a + "/model.safetensors"),
                        fb = load_safetensors(b + "/model.safetensors");
  REQUIRE(fa.names() == fb.names());
  for (const std::string& n : fa.names()) {
    CAPTURE(n);
    const auto x = fa.bytes(n), y = fb.bytes(n);
    CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));
  }
}

TEST_CASE("tools: --export-bf16 writes the sampling weights rounded to BF16, and ddpm-sample reads them") {
  TempDir tmp;
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  std::vector<std::string> args = tiny_train_flags(tmp.file("png"), run, 2);
  args.push_back("--export-bf16");
  REQUIRE(run_program(kTrainExe, args, tmp).status == 0);
  const SafetensorsFile f32 = load_safetensors(run + "/model.safetensors");
  const SafetensorsFile b16 = load_safetensors(run + "/model-bf16.safetensors");
  REQUIRE(f32.names() == b16.names());
  size_t bytes32 = 0, bytes16 = 0;
  for (const std::string& n : f32.names()) {
    CAPTURE(n);
    REQUIRE(b16.entry(n).dtype == "BF16");
    CHECK(b16.entry(n).shape == f32.entry(n).shape);
    const Tensor w = f32.tensor(n), h = b16.tensor(n);
    for (int64_t i = 0; i < w.numel(); ++i)
      REQUIRE(h.data<bf16>()[i].bits == float_to_bf16_bits(w.data<float>()[i]));
    bytes32 += f32.bytes(n).size();
    bytes16 += b16.bytes(n).size();
  }
  CHECK(bytes16 * 2 == bytes32);
  CHECK(b16.metadata().at("weights_dtype") == "bf16");
  CHECK(f32.metadata().at("weights_dtype") == "f32");
  CHECK(b16.metadata().at("step") == f32.metadata().at("step"));
  const RunResult s = run_program(kSampleExe,
                                  {"--model", run + "/model-bf16.safetensors", "--num", "2", "--steps", "2",
                                   "--device", "cpu", "--out", tmp.file("s.png")},
                                  tmp);
  check_run(s, 0, {"bf16 weights"});
  CHECK(fs::file_size(tmp.file("s.png")) > 0);
  // A run without the flag writes no BF16 file.
  const std::string plain = tmp.file("plain");
  REQUIRE(run_program(kTrainExe, tiny_train_flags(tmp.file("png"), plain, 1), tmp).status == 0);
  CHECK_FALSE(fs::exists(plain + "/model-bf16.safetensors"));
}
