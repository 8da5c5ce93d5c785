// Replays the fuzz targets' seed corpus, their campaign corpus (minimised,
// tests/fuzz/minimized/<target>/) and every input that once made a
// fuzz target fail (tests/fuzz/regressions/<target>/) through the same
// bodies (tests/fuzz/fuzz_harness.h), so each finding stays fixed in every
// build, the sanitizer build included. docs/reliability.md lists them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/atomic_file.h"
#include "io/images.h"
#include "io/safetensors.h"
#include "tests/fuzz/fuzz_harness.h"
#include "tests/io_util.h"

using namespace ddpm;
namespace fs = std::filesystem;

namespace {

// Every file of the target's corpus and regression folders; at least one.
std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> out;
  for (const char* kind : {"corpus", "minimized", "regressions"}) {
    const fs::path dir = fs::path(DDPM_FUZZ_DIR) / kind / target;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  REQUIRE(!out.empty());
  return out;
}

template <class F>
void replay(const std::string& target, F&& body) {
  for (const fs::path& p : inputs(target)) {
    CAPTURE(p.string());
    const std::string bytes = read_file(p.string());
    CHECK_NOTHROW(body(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
}

}  // namespace

TEST_CASE("io: the safetensors fuzz corpus and regressions are handled") {
  replay("safetensors", fuzz::safetensors_one);
}

TEST_CASE("io: the IDX fuzz corpus and regressions are handled") { replay("idx", fuzz::idx_one); }

TEST_CASE("io: the PNG fuzz corpus and regressions are handled") { replay("png", fuzz::png_one); }

TEST_CASE("io: the checkpoint fuzz corpus and regressions are handled") {
  replay("checkpoint", fuzz::checkpoint_one);
}

TEST_CASE("io: a state file's world_size of 2^62 is refused, not multiplied into an overflow (fuzz review)") {
  const std::string bytes = read_file(
      (fs::path(DDPM_FUZZ_DIR) / "regressions" / "checkpoint" / "state_world_size_overflow").string());
  const Metadata meta = fuzz::detail::header_metadata(bytes.substr(1));
  REQUIRE(meta.at("world_size") == "4611686018427387904");
  test::check_contains(test::error_message<std::runtime_error>([&] {
                         (void)merge_resume_config(TrainConfig(), {}, meta, 1, "state.safetensors");
                       }),
                       {"world_size 4611686018427387904", "1..1000000"});
}

TEST_CASE("io: the checkpoint fuzz seeds reach the readers they are meant for") {
  // A seed that every reader refused would only exercise the refusals: the
  // valid ones must be accepted, the bad_ ones refused for their own reason.
  const fs::path dir = fs::path(DDPM_FUZZ_DIR) / "corpus" / "checkpoint";
  auto meta_of = [&](const std::string& name) {
    const std::string bytes = read_file((dir / name).string());
    return fuzz::detail::header_metadata(bytes.substr(1));
  };
  for (const char* name : {"model_unconditional", "model_class", "model_superres", "model_inpaint"}) {
    CAPTURE(name);
    const ModelMetadata m = read_model_metadata(meta_of(name), name);
    CHECK(m.height == 32);
    CHECK(m.crop.height == 28);
  }
  CHECK(read_model_metadata(meta_of("model_class"), "c").class_names ==
        std::vector<std::string>{"shirt", "shoe", "bag"});
  CHECK(read_model_metadata(meta_of("model_superres"), "s").config.superres_from == 8);
  test::check_contains(test::error_message<std::runtime_error>(
                           [&] { (void)read_model_metadata(meta_of("bad_model_crop"), "crop"); }),
                       {"crop", "does not fit"});
  test::check_contains(test::error_message<std::runtime_error>(
                           [&] { (void)read_model_metadata(meta_of("bad_model_names"), "names"); }),
                       {"names", "class_names"});

  const Metadata state = meta_of("state_two_ranks");
  CHECK_NOTHROW(require_train_state_format(state, "s"));
  CHECK(merge_resume_config(TrainConfig(), {}, state, 4, "s").batch_size == 32);  // 2 x 64 over 4 ranks
  test::check_contains(test::error_message<std::runtime_error>(
                           [&] { require_train_state_format(meta_of("bad_state_is_model"), "m"); }),
                       {"not a training state file", "'ddpm-engine model v1'"});
  test::check_contains(test::error_message<std::runtime_error>([&] {
                         (void)merge_resume_config(TrainConfig(), {}, meta_of("bad_state_odd_batch"), 3, "o");
                       }),
                       {"global batch of 14", "3 ranks cannot split evenly"});

  const eval::ClassifierMetadata c = eval::read_classifier_metadata(meta_of("classifier"), "c");
  CHECK(c.classes == 3);
  CHECK(c.class_names == std::vector<std::string>{"a", "b", "c"});
  test::check_contains(test::error_message<std::runtime_error>([&] {
                         (void)eval::read_classifier_metadata(meta_of("bad_classifier_names"), "n");
                       }),
                       {"class_names lists 4 names, expected 3"});

  const std::string loss = read_file((dir / "logs_loss").string()).substr(1);
  CHECK(parse_loss_csv(loss, 4).size() == 2);  // steps 0 and 1; 9 is after the resume step
  const std::string evals = read_file((dir / "logs_eval").string()).substr(1);
  CHECK(parse_eval_csv(evals, 10).size() == 2);
}

TEST_CASE("io: a PNG with an empty IDAT chunk decodes as without it (fuzz finding)") {
  // stb_image copied a first, empty IDAT with memcpy(NULL, ..., 0) (UBSan);
  // the reader now drops empty IDAT chunks, which carry no data.
  Raster r{5, 3, 1, {}};
  for (int i = 0; i < 15; ++i) r.pixels.push_back(static_cast<uint8_t>(i * 17));
  const std::string plain = encode_png(r);
  REQUIRE(plain.compare(12, 4, "IHDR") == 0);
  // An empty IDAT (length 0, type, CRC-32 of "IDAT") right after IHDR.
  const std::string empty_idat = std::string("\0\0\0\0IDAT\x35\xaf\x06\x1e", 12);
  const std::string with_empty = plain.substr(0, 33) + empty_idat + plain.substr(33);
  const ImageDataset a = decode_png(plain, "plain.png"), b = decode_png(with_empty, "empty-idat.png");
  CHECK(b.images.shape() == Shape{1, 1, 3, 5});
  CHECK(a.images.to_vector<float>() == b.images.to_vector<float>());
}

TEST_CASE(
    "io: a PNG chunk longer than the file, and a file that is not a PNG, are refused before stb_image") {
  // The fuzz finding: an IDAT chunk declaring ~1.3 GB in a 100-byte file;
  // stb_image sized its buffer from the declared length first.
  const std::string input =
      read_file((fs::path(DDPM_FUZZ_DIR) / "regressions" / "png" / "idat_length_beyond_file.png").string());
  test::check_contains(
      test::error_message<std::runtime_error>([&] { (void)decode_png(input.substr(1), "long.png"); }),
      {"long.png", "cannot decode", "declares", "truncated or corrupt"});
  // stb_image also decodes JPEG, GIF, BMP, ...: only PNG gets through.
  const std::string bmp = "BM" + std::string(60, '\0');
  test::check_contains(test::error_message<std::runtime_error>([&] { (void)decode_png(bmp, "x.png"); }),
                       {"x.png", "not a PNG"});
}

TEST_CASE("io: a PNG whose header claims more than 2^24 pixels is refused before decoding") {
  // The seed corpus' huge-image file: a valid 8-bit gray IHDR of
  // 8192 x 8192 and nothing else (stb_image's own limit is larger); its
  // decoder would allocate 64 MiB before finding no data.
  // (Its first byte is the fuzz input's pad_to.)
  const std::string input =
      read_file((fs::path(DDPM_FUZZ_DIR) / "corpus" / "png" / "bad_huge_dims.png").string());
  const std::string msg =
      test::error_message<std::runtime_error>([&] { (void)decode_png(input.substr(1), "huge.png"); });
  test::check_contains(msg, {"huge.png", "8192x8192 pixels", "expected 1..16777216"});
}

TEST_CASE("io: safetensors shapes whose non-zero dimensions overflow int64 are refused (fuzz finding)") {
  // [2^62, 2, 0] has no bytes, so the byte-count check passed it, but
  // Tensor's int64 element count overflowed on it (UBSan: signed overflow).
  for (const char* shape : {"[4611686018427387904, 2, 0]", "[0, 4611686018427387904, 4611686018427387904]"}) {
    CAPTURE(shape);
    std::string header =
        std::string(R"({"w":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,0]}})";
    const uint64_t n = header.size();
    std::string file(8, '\0');
    std::memcpy(file.data(), &n, 8);
    file += header;
    const std::string msg = test::error_message<std::runtime_error>([&] { parse_safetensors(file, "f"); });
    test::check_contains(msg, {"tensor 'w'.shape", "non-zero dimensions exceeds 2^63-1"});
  }
  // The largest shape that is still fine: zero elements, non-zero product 2^62.
  std::string header = R"({"w":{"dtype":"F32","shape":[4611686018427387904,0],"data_offsets":[0,0]}})";
  const uint64_t n = header.size();
  std::string file(8, '\0');
  std::memcpy(file.data(), &n, 8);
  file += header;
  CHECK(parse_safetensors(file, "f").tensor("w").numel() == 0);
}
