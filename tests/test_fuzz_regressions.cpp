// Replays the fuzz targets' seed corpus and every input that once made a
// fuzz target fail (tests/fuzz/regressions/<target>/) through the same
// bodies (tests/fuzz/fuzz_harness.h), so each finding stays fixed in every
// build, the sanitizer build included. docs/reliability.md lists them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "tests/fuzz/fuzz_harness.h"
#include "tests/io_util.h"

using namespace ddpm;
namespace fs = std::filesystem;

namespace {

// Every file of the target's corpus and regression folders; at least one.
std::vector<fs::path> inputs(const std::string& target) {
  std::vector<fs::path> out;
  for (const char* kind : {"corpus", "regressions"}) {
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
