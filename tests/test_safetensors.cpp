// safetensors writer and validating reader (io/safetensors.h).
#include <doctest/doctest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <utility>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "tensor/philox.h"
#include "tests/io_util.h"
#include "tests/preconditions.h"

using namespace ddpm;
using ddpm::test::check_contains;
using ddpm::test::error_message;
using ddpm::test::TempDir;

namespace {

std::vector<std::byte> bytes_of(const Tensor& t) {
  std::vector<std::byte> b(t.nbytes());
  t.copy_to_host(b.data());
  return b;
}

bool same_bytes(std::span<const std::byte> a, const std::vector<std::byte>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

// A file made of an explicit header length, header text and data bytes.
std::string raw_file(const std::string& header, size_t data_bytes, uint64_t length) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &length, 8);
  return out + header + std::string(data_bytes, '\x11');
}
std::string raw_file(const std::string& header, size_t data_bytes) {
  return raw_file(header, data_bytes, header.size());
}

// Writes `bytes` to dir/<name>.safetensors, loads it, and checks that the
// error names the file and every one of `parts`.
void expect_broken(const TempDir& dir, const std::string& name, const std::string& bytes,
                   std::initializer_list<std::string> parts) {
  INFO("case " << name);
  const std::string path = dir.file(name + ".safetensors");
  write_file_atomic(path, bytes);
  const std::string msg = error_message<std::runtime_error>([&] { load_safetensors(path); });
  check_contains(msg, {"'" + path + "'"});
  check_contains(msg, parts);
}

}  // namespace

TEST_CASE("io: safetensors round trip is bit-exact for F32, F64, I64 and metadata") {
  TempDir dir;
  const float fnan = std::numeric_limits<float>::quiet_NaN();
  const float finf = std::numeric_limits<float>::infinity();
  const float fden = std::numeric_limits<float>::denorm_min();
  Tensor a =
      Tensor::from_vector(std::vector<float>{1.5f, -0.0f, fnan, finf, -finf, fden, 3e38f, 1e-7f}, {2, 4});
  Tensor b =
      Tensor::from_vector(std::vector<double>{0.1, -2.0 / 3.0, std::numeric_limits<double>::denorm_min(),
                                              std::numeric_limits<double>::max(), -0.0, 7.0},
                          {3, 1, 2});
  Tensor empty = Tensor::zeros({0, 5});
  Tensor scalar = Tensor::scalar(-4.25);
  const std::vector<int64_t> state = {12345, std::numeric_limits<int64_t>::min(),
                                      std::numeric_limits<int64_t>::max(), -1, 0};
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"model", "unet \"base\" 32"}, {"note", "ünïcödé\nline"}, {"empty", ""}};
  std::vector<SafetensorsBlob> blobs = {safetensors_blob("enc1.0.weight", a),
                                        safetensors_blob("b", b),
                                        safetensors_blob("empty", empty),
                                        safetensors_blob("scalar", scalar),
                                        safetensors_blob_i64("train.state", state),
                                        safetensors_blob_u64("train.seed", {0xFEDCBA9876543210ull, 0})};
  const std::string path = dir.file("rt.safetensors");
  save_safetensors(path, blobs, meta);

  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.source() == path);
  CHECK(f.metadata() == meta);
  CHECK(f.names() ==
        std::vector<std::string>{"enc1.0.weight", "b", "empty", "scalar", "train.state", "train.seed"});
  CHECK(f.entry("enc1.0.weight").dtype == "F32");
  CHECK(f.entry("b").dtype == "F64");
  CHECK(f.entry("train.state").dtype == "I64");
  CHECK(f.entry("empty").shape == Shape{0, 5});
  CHECK(f.entry("scalar").shape == Shape{});

  const Tensor a2 = f.tensor("enc1.0.weight");
  CHECK(a2.dtype() == DType::f32);
  CHECK(a2.shape() == Shape{2, 4});
  CHECK(same_bytes(f.bytes("enc1.0.weight"), bytes_of(a)));
  CHECK(bytes_of(a2) == bytes_of(a));
  const Tensor b2 = f.tensor("b");
  CHECK(b2.dtype() == DType::f64);
  CHECK(b2.shape() == Shape{3, 1, 2});
  CHECK(bytes_of(b2) == bytes_of(b));
  CHECK(f.tensor("empty").numel() == 0);
  CHECK(f.tensor("scalar").item() == -4.25);
  CHECK(f.int64s("train.state") == state);
  CHECK(f.uint64s("train.seed") == std::vector<uint64_t>{0xFEDCBA9876543210ull, 0});
  CHECK(f.entry("train.seed").dtype == "U64");

  // The data section is laid out in the given order, back to back, and the
  // header is padded to a multiple of 8.
  const std::string raw = read_file(path);
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  CHECK(n % 8 == 0);
  CHECK(raw[8] == '{');
  CHECK(f.entry("enc1.0.weight").begin == 0);
  CHECK(f.entry("b").begin == 32);
  CHECK(f.entry("empty").begin == 80);
  CHECK(f.entry("scalar").begin == 80);
  CHECK(f.entry("train.state").begin == 84);
  CHECK(f.entry("train.seed").begin == 124);
  CHECK(raw.size() == 8 + n + 124 + 16);

  // Saving the same content again gives the same bytes.
  save_safetensors(dir.file("rt2.safetensors"), blobs, meta);
  CHECK(read_file(dir.file("rt2.safetensors")) == raw);
}

TEST_CASE("io: save_safetensors from named Tensors, and converting reads") {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  Tensor w = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor d = Tensor::from_vector(std::vector<double>{0.5, -1.25}, {2});
  save_safetensors(path, {{"w", w}, {"d", d}}, {});
  const SafetensorsFile f = load_safetensors(path);
  CHECK(f.metadata().empty());
  CHECK(f.tensor("w", DType::f64).to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK(f.tensor("d", DType::f32).to_vector<float>() == std::vector<float>{0.5f, -1.25f});
  CHECK(read_file(path).substr(8, 2) == "{\"");

  // F16 / BF16 / integer entries convert to float on request (exact values).
  const uint16_t f16[] = {0x3C00, 0xC000, 0x0001, 0x7BFF};  // 1, -2, 2^-24, 65504
  const uint16_t bf16[] = {0x3F80, 0xC0A0};                 // 1, -5
  SafetensorsBlob h{"h", "F16", {4}, std::vector<std::byte>(8)};
  std::memcpy(h.bytes.data(), f16, 8);
  SafetensorsBlob bf{"bf", "BF16", {2}, std::vector<std::byte>(4)};
  std::memcpy(bf.bytes.data(), bf16, 4);
  save_safetensors(path, std::vector<SafetensorsBlob>{h, bf, safetensors_blob_i64("i", {7, -3}, {1, 2})});
  const SafetensorsFile g = load_safetensors(path);
  CHECK(g.tensor("h", DType::f64).to_vector<double>() ==
        std::vector<double>{1.0, -2.0, std::ldexp(1.0, -24), 65504.0});
  CHECK(g.tensor("bf", DType::f32).to_vector<float>() == std::vector<float>{1.0f, -5.0f});
  CHECK(g.tensor("i", DType::f32).to_vector<float>() == std::vector<float>{7.0f, -3.0f});
  CHECK(g.tensor("i", DType::f32).shape() == Shape{1, 2});
  check_contains(error_message<std::runtime_error>([&] { g.tensor("i"); }),
                 {path, "'i'", "I64", "F32, F64 or BF16"});
  check_contains(error_message<std::runtime_error>([&] { g.int64s("h"); }),
                 {path, "'h'", "F16", "expected I64"});
  check_contains(error_message<std::out_of_range>([&] { g.tensor("nope"); }),
                 {path, "no tensor named 'nope'"});
}

TEST_CASE("io: encode_safetensors rejects duplicate, reserved and inconsistent entries") {
  Tensor w = Tensor::zeros({2});
  check_contains(error_message<std::invalid_argument>([&] {
                   encode_safetensors({safetensors_blob("w", w), safetensors_blob("w", w)});
                 }),
                 {"'w'", "duplicate"});
  check_contains(error_message<std::invalid_argument>(
                     [&] { encode_safetensors({safetensors_blob("__metadata__", w)}); }),
                 {"reserved"});
  check_contains(error_message<std::invalid_argument>([&] {
                   encode_safetensors({SafetensorsBlob{"x", "F32", {3}, std::vector<std::byte>(8)}});
                 }),
                 {"'x'", "8 bytes, expected 12"});
  check_contains(error_message<std::invalid_argument>([&] {
                   encode_safetensors({SafetensorsBlob{"x", "F12", {1}, std::vector<std::byte>(4)}});
                 }),
                 {"'x'", "unknown dtype 'F12'"});
}

namespace {

// The file the two Python checks read: names of odd lengths so the header
// needs padding.
void write_python_check_file(const std::string& path) {
  Tensor a = Tensor::from_vector(std::vector<float>{1, -2, 3.5f, 0, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector(std::vector<double>{0.25, 1e-300, -7}, {3});
  save_safetensors(path,
                   std::vector<SafetensorsBlob>{safetensors_blob("a", a), safetensors_blob("bb.weight", b),
                                                safetensors_blob("zero", Tensor::zeros({0})),
                                                safetensors_blob_i64("state", {1, 2, 3})},
                   {{"format", "pt"}, {"step", "42"}});
}

const std::string kPython = "/usr/bin/python3";
std::string check_script() {
  return (std::filesystem::path(DDPM_TEST_DATA_DIR).parent_path() / "reference" / "check_safetensors.py")
      .string();
}

// Runs tests/reference/check_safetensors.py on path: its exit status and output.
std::pair<int, std::string> run_python_check(const std::string& path) {
  const std::string cmd = kPython + " " + check_script() + " " + path + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {status, out};
}

}  // namespace

// CTest entry `python`, skipped without /usr/bin/python3. Part 2 of the
// script (Python's safetensors package) is the `python-safetensors` case.
TEST_CASE("python: io: a file we write passes the independent Python format check" *
          test::unless_missing("python")) {
  DDPM_REQUIRE_PRECONDITION("python");
  TempDir dir;
  const std::string path = dir.file("py.safetensors");
  write_python_check_file(path);
  const std::string python = kPython, script = check_script();
  const auto [status, out] = run_python_check(path);
  INFO(out);
  CHECK(status == 0);
  check_contains(out, {"tensor a F32 [2, 3]", "tensor bb.weight F64 [3]", "tensor zero F32 [0]",
                       "tensor state I64 [3]", "metadata format=pt", "metadata step=42", "plain check: OK"});
  // The script must also reject a broken file (it is a real check).
  std::string raw = read_file(path);
  raw.push_back('\0');
  write_file_atomic(dir.file("tail.safetensors"), raw);
  CHECK(std::system((python + " " + script + " " + dir.file("tail.safetensors") + " > /dev/null").c_str()) !=
        0);
}

// CTest entry `python-safetensors`, skipped when Python's safetensors package
// (with numpy) does not import. No skip decorator: checking starts Python, too
// slow for every start of the binary, so a bare run fails this case there.
TEST_CASE("python-safetensors: io: a file we write loads with Python's safetensors package") {
  DDPM_REQUIRE_PRECONDITION("python-safetensors");
  TempDir dir;
  const std::string path = dir.file("py.safetensors");
  write_python_check_file(path);
  const auto [status, out] = run_python_check(path);
  INFO(out);
  CHECK(status == 0);
  check_contains(out, {"plain check: OK", "safetensors package: loaded, all tensors and metadata match"});
}

TEST_CASE("io: safetensors reader rejects a broken length field") {
  TempDir dir;
  expect_broken(dir, "empty", "", {"header length", "0 bytes, expected at least 8"});
  expect_broken(dir, "short", std::string("\x05\x00\x00", 3), {"header length", "3 bytes"});
  expect_broken(dir, "beyond_file", raw_file("{}", 0, 1000), {"header length", "found 1000", "only 2 bytes"});
  expect_broken(dir, "beyond_cap", raw_file("{}", 0, uint64_t{1} << 40),
                {"header length", "1099511627776", "at most 100000000"});
  expect_broken(dir, "huge", raw_file("{}", 0, std::numeric_limits<uint64_t>::max()),
                {"header length", "18446744073709551615"});
}

TEST_CASE("io: safetensors reader rejects headers that are not a JSON object of entries") {
  TempDir dir;
  expect_broken(dir, "not_json", raw_file("{\"w\": [1, 2", 0), {"header", "not valid JSON"});
  expect_broken(dir, "garbage", raw_file("\xff\xfe\x00\x01", 0), {"header", "not valid JSON"});
  expect_broken(dir, "array", raw_file("[1, 2, 3]", 0), {"header", "found array", "expected a JSON object"});
  expect_broken(dir, "entry_number", raw_file("{\"w\": 5}", 0),
                {"tensor 'w'", "found unsigned integer 5", "expected an object"});
  expect_broken(dir, "entry_array", raw_file("{\"w\": []}", 0), {"tensor 'w'", "expected an object"});
  expect_broken(dir, "extra_key",
                raw_file(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}})", 4),
                {"tensor 'w'.x", "unexpected key"});
  expect_broken(dir, "missing_dtype", raw_file(R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'.dtype", "missing"});
  expect_broken(dir, "missing_offsets", raw_file(R"({"w": {"dtype": "F32", "shape": [1]}})", 4),
                {"tensor 'w'.data_offsets", "missing"});
}

TEST_CASE("io: safetensors reader rejects bad dtypes and shapes") {
  TempDir dir;
  expect_broken(dir, "unknown_dtype",
                raw_file(R"({"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'.dtype", "unknown dtype 'F33'", "expected one of", "F32"});
  expect_broken(dir, "dtype_number",
                raw_file(R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'.dtype", "expected a string"});
  expect_broken(dir, "shape_string",
                raw_file(R"({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'.shape", "found string", "expected an array"});
  expect_broken(dir, "shape_negative",
                raw_file(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'.shape", "negative integer -1", "expected non-negative integers"});
  expect_broken(dir, "shape_float",
                raw_file(R"({"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})", 4),
                {"tensor 'w'.shape", "number 1.0", "expected non-negative integers"});
  expect_broken(
      dir, "shape_overflow",
      raw_file(R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0),
      {"tensor 'w'.shape", "overflows"});
  expect_broken(
      dir, "shape_overflow_by_dtype",
      raw_file(R"({"w": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 0]}})", 0),
      {"tensor 'w'.shape", "overflows"});
  expect_broken(dir, "size_mismatch",
                raw_file(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 20),
                {"tensor 'w'.data_offsets", "spans 20 bytes, expected 24 for F32 [2, 3]"});
}

TEST_CASE("io: safetensors reader rejects bad data_offsets, overlaps, holes and tails") {
  TempDir dir;
  expect_broken(dir, "offsets_single",
                raw_file(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [4]}})", 4),
                {"tensor 'w'.data_offsets", "expected a pair [begin, end]"});
  expect_broken(dir, "offsets_triple",
                raw_file(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4, 8]}})", 8),
                {"tensor 'w'.data_offsets", "expected a pair"});
  expect_broken(dir, "offsets_negative",
                raw_file(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}})", 4),
                {"tensor 'w'.data_offsets", "expected a pair"});
  expect_broken(dir, "offsets_reversed",
                raw_file(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [4, 0]}})", 4),
                {"tensor 'w'.data_offsets", "reversed: begin 4 > end 0"});
  expect_broken(dir, "offsets_beyond",
                raw_file(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})", 6),
                {"tensor 'w'.data_offsets", "end 8 is beyond the data section of 6 bytes"});
  expect_broken(dir, "overlap",
                raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                             "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})",
                         6),
                {"tensor 'b'.data_offsets", "[2, 6) overlaps tensor 'a'"});
  expect_broken(dir, "same_range",
                raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                             "b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})",
                         4),
                {"data_offsets", "overlaps tensor"});
  expect_broken(dir, "hole",
                raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                             "b": {"dtype": "U8", "shape": [4], "data_offsets": [6, 10]}})",
                         10),
                {"tensor 'b'.data_offsets", "hole of bytes [4, 6)"});
  expect_broken(dir, "hole_at_start",
                raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})", 6),
                {"tensor 'a'.data_offsets", "hole of bytes [0, 2)"});
  expect_broken(dir, "tail", raw_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})", 9),
                {"data section", "cover 4 bytes", "has 9 bytes"});
  expect_broken(dir, "empty_header_with_data", raw_file("{}", 3),
                {"data section", "cover 0 bytes", "has 3 bytes"});
}

TEST_CASE("io: safetensors reader rejects duplicate names and bad metadata") {
  TempDir dir;
  expect_broken(dir, "duplicate_name",
                raw_file(R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                             "w": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}})",
                         8),
                {"header", "duplicate tensor name 'w'"});
  expect_broken(dir, "duplicate_key",
                raw_file(R"({"w": {"dtype": "U8", "dtype": "I8", "shape": [4], "data_offsets": [0, 4]}})", 4),
                {"header", "duplicate key 'dtype' inside 'w'"});
  expect_broken(dir, "duplicate_metadata", raw_file(R"({"__metadata__": {"k": "a", "k": "b"}})", 0),
                {"header", "duplicate key 'k' inside '__metadata__'"});
  expect_broken(dir, "duplicate_metadata_block",
                raw_file(R"({"__metadata__": {"k": "a"}, "__metadata__": {"j": "b"}})", 0),
                {"header", "duplicate '__metadata__'"});
  expect_broken(dir, "metadata_array", raw_file(R"({"__metadata__": ["a"]})", 0),
                {"__metadata__", "found array", "expected an object of strings"});
  expect_broken(dir, "metadata_number", raw_file(R"({"__metadata__": {"step": 5}})", 0),
                {"__metadata__.step", "found unsigned integer 5", "expected a string"});
  // The same structures without the defect load (the tests above fail for
  // the reason they name).
  const std::string ok = dir.file("ok.safetensors");
  write_file_atomic(ok, raw_file(R"({"__metadata__": {"step": "5"},
                                     "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                     "b": {"dtype": "U8", "shape": [2, 2], "data_offsets": [4, 8]}})",
                                 8));
  const SafetensorsFile f = load_safetensors(ok);
  CHECK(f.metadata().at("step") == "5");
  CHECK(f.names() == std::vector<std::string>{"a", "b"});
  CHECK(f.tensor("b", DType::f32).to_vector<float>() == std::vector<float>(4, 17.0f));
}

TEST_CASE("io: check_names reports missing, extra and mis-shaped tensors by name") {
  TempDir dir;
  const std::string path = dir.file("names.safetensors");
  save_safetensors(path, {{"enc1.weight", Tensor::zeros({4, 1, 3, 3})},
                          {"enc1.bias", Tensor::zeros({4})},
                          {"stray", Tensor::zeros({1})}});
  const SafetensorsFile f = load_safetensors(path);
  const NameCheck good = check_names(f, {{"enc1.weight", {4, 1, 3, 3}}, {"enc1.bias", {4}}, {"stray", {1}}});
  CHECK(good.ok());
  CHECK(good.message(path).empty());
  const NameCheck r =
      check_names(f, {{"enc1.weight", {8, 1, 3, 3}}, {"enc1.bias", {4}}, {"final.weight", {1, 4, 1, 1}}});
  CHECK_FALSE(r.ok());
  CHECK(r.missing == std::vector<std::string>{"final.weight"});
  CHECK(r.extra == std::vector<std::string>{"stray"});
  REQUIRE(r.mismatched.size() == 1);
  check_contains(r.mismatched[0], {"enc1.weight", "[4, 1, 3, 3]", "expected [8, 1, 3, 3]"});
  const std::string msg = error_message<std::runtime_error>([&] {
    require_names(f, {{"enc1.weight", {8, 1, 3, 3}}, {"enc1.bias", {4}}, {"final.weight", {1, 4, 1, 1}}});
  });
  check_contains(msg, {path, "missing: final.weight", "unexpected: stray", "wrong shape: enc1.weight"});
}

TEST_CASE("io: a file written by Python's safetensors package loads with the right values") {
  // tests/reference/make_safetensors_reference.py made this file.
  const SafetensorsFile f = load_safetensors(DDPM_TEST_DATA_DIR "/python_written.safetensors");
  CHECK(f.metadata().at("format") == "np");
  CHECK(f.names().size() == 5);
  const Tensor w = f.tensor("enc1.0.weight");
  CHECK(w.shape() == Shape{2, 3, 2, 2});
  const std::vector<float> wv = w.to_vector<float>();
  for (size_t i = 0; i < wv.size(); ++i) CHECK(wv[i] == (static_cast<float>(i) - 11.5f) / 4.0f);
  CHECK(f.tensor("enc1.0.bias").to_vector<double>() == std::vector<double>{0.1, -0.2});
  CHECK(f.int64s("step") == std::vector<int64_t>{1234, -5});
  CHECK(f.tensor("mask", DType::f32).to_vector<float>() == std::vector<float>{1, 0, 255});
  CHECK(f.tensor("half", DType::f32).to_vector<float>() == std::vector<float>{1.0f, -2.0f, 0.5f});
}

TEST_CASE("io: safetensors reader either loads or throws runtime_error on random corruption") {
  // 3000 files, each a valid file with 1-4 bytes overwritten (positions and
  // values from Philox, so failures reproduce). Run under the sanitizer
  // build this also shows the parser never reads out of bounds.
  const std::string good = encode_safetensors(
      {safetensors_blob("a", Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3})),
       safetensors_blob_i64("s", {9, 8}), safetensors_blob("d", Tensor::zeros({2, 2}, DType::f64))},
      {{"k", "v"}});
  int loaded = 0, rejected = 0;
  for (uint64_t trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int64_t edits = 1 + philox::uniform_int(5, trial, 0, 4);
    for (int64_t e = 0; e < edits; ++e) {
      // Most edits land in the length field and the header, where parsing happens.
      const int64_t limit = philox::uniform_int(5, trial, 100 + static_cast<uint64_t>(e), 4) == 0
                                ? static_cast<int64_t>(bad.size())
                                : 8 + 120;
      const auto pos =
          static_cast<size_t>(philox::uniform_int(5, trial, 200 + static_cast<uint64_t>(e), limit));
      bad[pos] = static_cast<char>(philox::uniform_int(5, trial, 300 + static_cast<uint64_t>(e), 256));
    }
    if (philox::uniform_int(5, trial, 400, 10) == 0)
      bad.resize(static_cast<size_t>(philox::uniform_int(5, trial, 401, static_cast<int64_t>(bad.size()))));
    try {
      parse_safetensors(bad, "fuzz");
      ++loaded;
    } catch (const std::runtime_error& e) {
      ++rejected;
      CHECK(std::string(e.what()).find("'fuzz'") != std::string::npos);
    }
  }
  MESSAGE("random corruption: " << loaded << " loaded, " << rejected << " rejected");
  CHECK(rejected > 1000);
}
