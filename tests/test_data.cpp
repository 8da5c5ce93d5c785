// Datasets: IDX (gzip) and PNG folders, shuffling and the batch iterator
// (io/data.h).
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "io/atomic_file.h"
#include "io/data.h"
#include "io/images.h"
#include "tensor/philox.h"
#include "tests/io_util.h"
#include "tests/preconditions.h"

using namespace ddpm;
using ddpm::test::be32;
using ddpm::test::check_contains;
using ddpm::test::error_message;
using ddpm::test::gzip;
using ddpm::test::TempDir;

namespace {

// IDX bytes: magic, big-endian dims, then the payload.
std::string idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                      const std::vector<uint8_t>& payload) {
  std::string s = be32(magic);
  for (uint32_t d : dims) s += be32(d);
  s.append(reinterpret_cast<const char*>(payload.data()), payload.size());
  return s;
}

// Three 4x5 images whose bytes cover 0 and 255; labels 7, 0, 9.
std::vector<uint8_t> tiny_pixels() {
  std::vector<uint8_t> p(3 * 4 * 5);
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>((i * 53) % 256);
  p[0] = 0;
  p[1] = 255;
  return p;
}

void write_tiny_idx(const TempDir& dir, const std::string& prefix, bool gz) {
  const std::string ext = gz ? ".gz" : "";
  const std::string img = idx_bytes(0x803, {3, 4, 5}, tiny_pixels());
  const std::string lab = idx_bytes(0x801, {3}, {7, 0, 9});
  write_file_atomic(dir.file(prefix + "-images-idx3-ubyte" + ext), gz ? gzip(img) : img);
  write_file_atomic(dir.file(prefix + "-labels-idx1-ubyte" + ext), gz ? gzip(lab) : lab);
}

// Loads images_bytes / labels_bytes written as gzip files and returns the error.
std::string idx_error(const TempDir& dir, const std::string& images_gz, const std::string& labels_gz) {
  write_file_atomic(dir.file("i.gz"), images_gz);
  write_file_atomic(dir.file("l.gz"), labels_gz);
  return error_message<std::runtime_error>([&] { load_idx_files(dir.file("i.gz"), dir.file("l.gz"), 8); });
}

Raster gray(int64_t w, int64_t h, uint8_t base) {
  Raster r{w, h, 1, std::vector<uint8_t>(static_cast<size_t>(w * h))};
  for (size_t i = 0; i < r.pixels.size(); ++i) r.pixels[i] = static_cast<uint8_t>(base + 3 * i);
  return r;
}

bool is_permutation_of_range(const std::vector<int64_t>& p) {
  std::vector<int64_t> s = p;
  std::sort(s.begin(), s.end());
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != static_cast<int64_t>(i)) return false;
  return true;
}

}  // namespace

TEST_CASE("data: a gzip IDX pair loads scaled to [-1, 1], centred and padded with -1") {
  TempDir dir;
  write_tiny_idx(dir, "train", true);
  const ImageDataset ds = load_idx_dataset(dir.path().string(), "train", 8);
  CHECK(ds.images.shape() == Shape{3, 1, 8, 8});
  CHECK(ds.labels == std::vector<int64_t>{7, 0, 9});
  CHECK(ds.orig_height == 4);
  CHECK(ds.orig_width == 5);
  CHECK(ds.pad_top == 2);   // (8 - 4) / 2
  CHECK(ds.pad_left == 1);  // (8 - 5) / 2, the odd pixel goes right
  const std::vector<float> v = ds.images.to_vector<float>();
  const std::vector<uint8_t> px = tiny_pixels();
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 8; ++x) {
        const float got = v[static_cast<size_t>((n * 8 + y) * 8 + x)];
        const bool inside = y >= 2 && y < 6 && x >= 1 && x < 6;
        const float want =
            inside ? static_cast<float>(px[static_cast<size_t>((n * 4 + y - 2) * 5 + x - 1)]) / 127.5f - 1.0f
                   : -1.0f;
        CHECK(got == want);
      }
  CHECK(v[2 * 8 + 1] == -1.0f);  // byte 0
  CHECK(v[2 * 8 + 2] == 1.0f);   // byte 255
  const CropBox c = ds.crop();
  CHECK((c.top == 2 && c.left == 1 && c.height == 4 && c.width == 5));

  // Uncompressed names and the "test" split (t10k prefix) work too; pad_to
  // 0 keeps the original size.
  TempDir raw;
  write_tiny_idx(raw, "t10k", false);
  const ImageDataset t = load_idx_dataset(raw.path().string(), "test", 0);
  CHECK(t.images.shape() == Shape{3, 1, 4, 5});
  CHECK(t.images.to_vector<float>()[1] == 1.0f);
  CHECK(resolve_dataset(raw.path().string(), "test", 0).images.shape() == Shape{3, 1, 4, 5});
  check_contains(error_message<std::runtime_error>([&] { load_idx_dataset(raw.path().string(), "train"); }),
                 {raw.path().string(), "missing train-images-idx3-ubyte", "split 'train'"});
  check_contains(
      error_message<std::invalid_argument>([&] { load_idx_dataset(raw.path().string(), "valid"); }),
      {"split 'valid'", "expected 'train' or 'test'"});
}

TEST_CASE("data: IDX errors name the file and the problem") {
  TempDir dir;
  const std::string img = idx_bytes(0x803, {3, 4, 5}, tiny_pixels());
  const std::string lab = idx_bytes(0x801, {3}, {7, 0, 9});
  const std::string ipath = dir.file("i.gz"), lpath = dir.file("l.gz");
  SUBCASE("wrong magic") {
    check_contains(idx_error(dir, gzip(idx_bytes(0x801, {3, 4, 5}, tiny_pixels())), gzip(lab)),
                   {ipath, "magic number 0x00000801, expected 0x00000803"});
    check_contains(idx_error(dir, gzip(img), gzip(idx_bytes(0x08000001, {3}, {1, 2, 3}))),
                   {lpath, "magic number 0x08000001, expected 0x00000801"});
    check_contains(idx_error(dir, gzip("\x00\x00"), gzip(lab)), {ipath, "too short for the 4-byte magic"});
  }
  SUBCASE("truncated gzip") {
    const std::string gz = gzip(img);
    check_contains(idx_error(dir, gz.substr(0, gz.size() / 2), gzip(lab)), {ipath, "truncated gzip stream"});
    // Only the 8-byte trailer (CRC, length) missing.
    check_contains(idx_error(dir, gz.substr(0, gz.size() - 8), gzip(lab)), {ipath, "truncated gzip stream"});
  }
  SUBCASE("corrupt gzip bytes") {
    std::string gz = gzip(img);
    gz[gz.size() / 2] = static_cast<char>(gz[gz.size() / 2] ^ 0x5A);
    check_contains(idx_error(dir, gz, gzip(lab)), {ipath, "corrupt gzip stream (zlib:"});
    std::string crc = gzip(img);
    crc[crc.size() - 6] = static_cast<char>(crc[crc.size() - 6] ^ 0x01);  // the stored CRC-32
    check_contains(idx_error(dir, crc, gzip(lab)), {ipath, "corrupt gzip stream", "incorrect data check"});
  }
  SUBCASE("dimensions disagree with the bytes") {
    std::vector<uint8_t> short_px = tiny_pixels();
    short_px.resize(short_px.size() - 7);
    check_contains(idx_error(dir, gzip(idx_bytes(0x803, {3, 4, 5}, short_px)), gzip(lab)),
                   {ipath, "data ends after 53 bytes, expected 60 for dimensions 3 x 4 x 5"});
    std::vector<uint8_t> long_px = tiny_pixels();
    long_px.push_back(1);
    check_contains(idx_error(dir, gzip(idx_bytes(0x803, {3, 4, 5}, long_px)), gzip(lab)),
                   {ipath, "has bytes beyond the 60 that dimensions 3 x 4 x 5 account for"});
    check_contains(idx_error(dir, gzip(be32(0x803) + be32(3) + be32(4)), gzip(lab)),
                   {ipath, "header ends after 12 bytes, expected 16 for 3 dimensions"});
    check_contains(idx_error(dir, gzip(idx_bytes(0x803, {0xFFFFFFFF, 0xFFFFFFFF, 4}, {})), gzip(lab)),
                   {ipath, "exceed the limit"});
    check_contains(idx_error(dir, gzip(idx_bytes(0x803, {3, 0, 5}, {})), gzip(lab)),
                   {ipath, "dimension 1 is 0"});
  }
  SUBCASE("label out of range") {
    check_contains(idx_error(dir, gzip(img), gzip(idx_bytes(0x801, {3}, {7, 10, 9}))),
                   {lpath, "label 10 at index 1, expected 0..9"});
  }
  SUBCASE("image and label counts differ") {
    check_contains(idx_error(dir, gzip(img), gzip(idx_bytes(0x801, {2}, {7, 0}))),
                   {ipath, lpath, "3 images but 2 labels"});
  }
  SUBCASE("missing file") {
    write_file_atomic(ipath, gzip(img));
    check_contains(error_message<std::runtime_error>([&] { load_idx_files(ipath, dir.file("none.gz")); }),
                   {dir.file("none.gz"), "does not exist"});
  }
}

// CTest entry `fashion-mnist`, skipped when the dataset is not installed.
TEST_CASE("fashion-mnist: data: the real Fashion-MNIST train split loads as [60000, 1, 32, 32] in [-1, 1]" *
          test::unless_missing("fashion-mnist")) {
  DDPM_REQUIRE_PRECONDITION("fashion-mnist");
  const ImageDataset ds = resolve_dataset("fashion-mnist");
  REQUIRE(ds.images.shape() == Shape{60000, 1, 32, 32});
  CHECK(ds.orig_height == 28);
  CHECK(ds.orig_width == 28);
  CHECK(ds.pad_top == 2);
  CHECK(ds.pad_left == 2);
  const float* p = ds.images.data<float>();
  const auto [lo, hi] = std::minmax_element(p, p + ds.images.numel());
  CHECK(*lo == -1.0f);
  CHECK(*hi == 1.0f);
  // The two-pixel border is background everywhere.
  bool border = true;
  for (int64_t n = 0; n < 60000; n += 997)
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 32; ++x)
        if (y < 2 || y >= 30 || x < 2 || x >= 30) border = border && p[(n * 32 + y) * 32 + x] == -1.0f;
  CHECK(border);
  REQUIRE(ds.labels.size() == 60000);
  std::vector<int64_t> count(10, 0);
  int64_t out_of_range = 0;
  for (int64_t l : ds.labels) {
    if (l < 0 || l > 9)
      ++out_of_range;
    else
      ++count[static_cast<size_t>(l)];
  }
  CHECK(out_of_range == 0);
  CHECK(count == std::vector<int64_t>(10, 6000));  // Fashion-MNIST is balanced
  const std::map<std::string, std::string> meta = dataset_metadata(ds);
  CHECK(meta.at("data.height") == "32");
  const CropBox c = crop_from_metadata(meta);
  CHECK((c.top == 2 && c.left == 2 && c.height == 28 && c.width == 28));
}

TEST_CASE("data: a PNG folder loads gray and RGB images in name order") {
  TempDir dir;
  write_png(dir.file("b.png"), gray(5, 4, 10));
  write_png(dir.file("a.PNG"), gray(5, 4, 0));
  write_png(dir.file("c.png"), gray(5, 4, 100));
  write_file_atomic(dir.file("notes.txt"), std::string("not an image"));
  const ImageDataset ds = resolve_dataset(dir.path().string(), "train", 0);
  CHECK(ds.images.shape() == Shape{3, 1, 4, 5});
  CHECK(ds.labels.empty());
  const std::vector<float> v = ds.images.to_vector<float>();
  CHECK(v[0] == -1.0f);                        // a.PNG pixel 0 = byte 0
  CHECK(v[20] == 10.0f / 127.5f - 1.0f);       // b.png pixel 0
  CHECK(v[40 + 3] == 109.0f / 127.5f - 1.0f);  // c.png pixel 3 = 100 + 9
  const ImageDataset padded = load_png_folder(dir.path().string(), 8);
  CHECK(padded.images.shape() == Shape{3, 1, 8, 8});
  CHECK(padded.images.to_vector<float>()[0] == -1.0f);

  // RGB, and RGBA that is fully opaque (alpha dropped).
  TempDir rgb;
  Raster r{2, 2, 3, {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30}};
  write_png(rgb.file("x.png"), r);
  Raster ra{2, 2, 4, {255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 20, 30, 255}};
  write_png(rgb.file("y.png"), ra);
  const ImageDataset c = load_png_folder(rgb.path().string());
  REQUIRE(c.images.shape() == Shape{2, 3, 2, 2});
  const std::vector<float> cv = c.images.to_vector<float>();
  for (int img = 0; img < 2; ++img) {  // planar: R plane, G plane, B plane
    const size_t o = static_cast<size_t>(img) * 12;
    CHECK(cv[o + 0] == 1.0f);
    CHECK(cv[o + 1] == -1.0f);
    CHECK(cv[o + 4 + 1] == 1.0f);
    CHECK(cv[o + 8 + 2] == 1.0f);
    CHECK(cv[o + 8 + 3] == 30.0f / 127.5f - 1.0f);
  }
}

TEST_CASE("data: PNG folder errors name the folder or the file") {
  TempDir empty;
  write_file_atomic(empty.file("readme.txt"), std::string("x"));
  check_contains(error_message<std::runtime_error>([&] { load_png_folder(empty.path().string()); }),
                 {empty.path().string(), "no *.png files"});
  check_contains(error_message<std::runtime_error>([&] { resolve_dataset(empty.path().string()); }),
                 {empty.path().string(), "no *.png files"});

  TempDir mixed;
  write_png(mixed.file("a.png"), gray(5, 4, 0));
  write_png(mixed.file("b.png"), gray(4, 4, 0));
  check_contains(error_message<std::runtime_error>([&] { load_png_folder(mixed.path().string()); }),
                 {mixed.file("b.png"), "4x4 with 1 channel(s), expected 5x4 with 1", mixed.file("a.png")});

  TempDir channels;
  write_png(channels.file("a.png"), gray(2, 2, 0));
  write_png(channels.file("b.png"), Raster{2, 2, 3, std::vector<uint8_t>(12, 7)});
  check_contains(error_message<std::runtime_error>([&] { load_png_folder(channels.path().string()); }),
                 {channels.file("b.png"), "with 3 channel(s), expected 2x2 with 1"});

  TempDir alpha;
  write_png(alpha.file("a.png"), Raster{1, 2, 4, {1, 2, 3, 255, 4, 5, 6, 128}});
  check_contains(error_message<std::runtime_error>([&] { load_png_folder(alpha.path().string()); }),
                 {alpha.file("a.png"), "transparent pixels (alpha 128 at pixel 1)"});

  TempDir broken;
  write_png(broken.file("a.png"), gray(2, 2, 0));
  write_file_atomic(broken.file("b.png"), std::string("\x89PNG\r\n\x1a\n garbage, not a PNG body"));
  check_contains(error_message<std::runtime_error>([&] { load_png_folder(broken.path().string()); }),
                 {broken.file("b.png"), "cannot decode"});
  std::string cut = encode_png(gray(8, 8, 0));
  write_file_atomic(broken.file("b.png"), cut.substr(0, cut.size() / 2));
  check_contains(error_message<std::runtime_error>([&] { load_png_folder(broken.path().string()); }),
                 {broken.file("b.png"), "cannot decode"});

  const std::string nowhere = empty.file("does/not/exist");
  check_contains(error_message<std::runtime_error>([&] { resolve_dataset(nowhere); }),
                 {nowhere, "not a directory", "fashion-mnist"});
}

TEST_CASE("data: a loaded image written back as PNG gives the original bytes") {
  TempDir dir;
  write_png(dir.file("a.png"), gray(6, 3, 40));
  const ImageDataset ds = load_png_folder(dir.path().string(), 8);
  write_image(dir.file("out.png"), ds.images, ds.crop());
  CHECK(read_file(dir.file("out.png")) == read_file(dir.file("a.png")));
}

TEST_CASE("data: epoch_permutation is a permutation, fixed by (seed, epoch)") {
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    const std::vector<int64_t> p = epoch_permutation(n, 42, 3);
    CHECK(static_cast<int64_t>(p.size()) == n);
    CHECK(is_permutation_of_range(p));
  }
  CHECK(epoch_permutation(1000, 42, 3) == epoch_permutation(1000, 42, 3));
  CHECK(epoch_permutation(1000, 42, 3) != epoch_permutation(1000, 42, 4));
  CHECK(epoch_permutation(1000, 42, 3) != epoch_permutation(1000, 43, 3));
  std::vector<int64_t> identity(1000);
  for (int64_t i = 0; i < 1000; ++i) identity[static_cast<size_t>(i)] = i;
  CHECK(epoch_permutation(1000, 42, 0) != identity);
  // Unbiased: over 6000 epochs each of the 6 orders of 3 items appears
  // ~1000 times; the binomial sd is ~29, so 150 is a > 5 sd margin.
  std::map<std::vector<int64_t>, int> freq;
  for (int64_t e = 0; e < 6000; ++e) ++freq[epoch_permutation(3, 7, e)];
  CHECK(freq.size() == 6);
  for (const auto& [perm, count] : freq) CHECK(std::abs(count - 1000) < 150);
  CHECK_THROWS_AS(epoch_permutation(-1, 0, 0), std::invalid_argument);
}

TEST_CASE("data: BatchIterator walks shuffled epochs and resumes at (epoch, index)") {
  ImageDataset ds;
  std::vector<float> v(10 * 2 * 2);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i / 4);  // image k is all k
  ds.images = Tensor::from_vector(v, {10, 1, 2, 2});
  for (int64_t i = 0; i < 10; ++i) ds.labels.push_back(i % 10);
  ds.orig_height = ds.orig_width = 2;

  BatchIterator it(ds, 4, 99);
  CHECK(it.batches_per_epoch() == 2);
  const std::vector<int64_t> perm0 = epoch_permutation(10, 99, 0), perm1 = epoch_permutation(10, 99, 1);
  std::vector<Batch> run;
  for (int i = 0; i < 5; ++i) run.push_back(it.next());
  CHECK(run[0].indices == std::vector<int64_t>(perm0.begin(), perm0.begin() + 4));
  CHECK(run[1].indices == std::vector<int64_t>(perm0.begin() + 4, perm0.begin() + 8));
  CHECK(run[2].epoch == 1);  // the last 2 rows of epoch 0 are dropped
  CHECK(run[2].start == 0);
  CHECK(run[2].indices == std::vector<int64_t>(perm1.begin(), perm1.begin() + 4));
  CHECK(run[4].epoch == 2);
  for (const Batch& b : run) {
    REQUIRE(b.images.shape() == Shape{4, 1, 2, 2});
    const std::vector<float> bv = b.images.to_vector<float>();
    for (size_t i = 0; i < 4; ++i) {
      CHECK(bv[i * 4] == static_cast<float>(b.indices[i]));
      CHECK(b.labels[i] == b.indices[i]);
    }
  }
  CHECK(it.epoch() == 2);
  CHECK(it.index_in_epoch() == 4);

  // A fresh iterator positioned where the first was after 3 batches
  // produces batches 4 and 5 again.
  BatchIterator resumed(ds, 4, 99);
  resumed.seek(run[3].epoch, run[3].start);
  for (int i = 3; i < 5; ++i) {
    const Batch b = resumed.next();
    CHECK(b.indices == run[static_cast<size_t>(i)].indices);
    CHECK(b.images.to_vector<float>() == run[static_cast<size_t>(i)].images.to_vector<float>());
  }
  // Seeking to the end of an epoch moves on to the next one.
  resumed.seek(0, 10);
  CHECK(resumed.next().epoch == 1);

  BatchIterator keep(ds, 4, 99, false);
  CHECK(keep.batches_per_epoch() == 3);
  CHECK(keep.next().images.size(0) == 4);
  CHECK(keep.next().images.size(0) == 4);
  const Batch last = keep.next();
  CHECK(last.images.size(0) == 2);
  CHECK(last.indices == std::vector<int64_t>(perm0.begin() + 8, perm0.end()));
  CHECK(keep.next().epoch == 1);

  CHECK_THROWS_AS(it.seek(0, 11), std::invalid_argument);
  CHECK_THROWS_AS(it.seek(-1, 0), std::invalid_argument);
  CHECK_THROWS_AS(BatchIterator(ds, 11, 0), std::invalid_argument);
  CHECK_THROWS_AS(BatchIterator(ds, 0, 0), std::invalid_argument);
}

TEST_CASE("data: IDX reader either loads or throws runtime_error on random gzip corruption") {
  // 1500 corrupted copies of a gzip IDX image file (1-3 bytes overwritten,
  // positions and values from Philox); labels stay valid.
  TempDir dir;
  const std::string good = gzip(idx_bytes(0x803, {3, 4, 5}, tiny_pixels()));
  write_file_atomic(dir.file("l.gz"), gzip(idx_bytes(0x801, {3}, {7, 0, 9})));
  int loaded = 0, rejected = 0;
  for (uint64_t trial = 0; trial < 1500; ++trial) {
    std::string bad = good;
    const int64_t edits = 1 + philox::uniform_int(11, trial, 0, 3);
    for (int64_t e = 0; e < edits; ++e) {
      const auto pos = static_cast<size_t>(
          philox::uniform_int(11, trial, 10 + static_cast<uint64_t>(e), static_cast<int64_t>(bad.size())));
      bad[pos] = static_cast<char>(philox::uniform_int(11, trial, 20 + static_cast<uint64_t>(e), 256));
    }
    std::ofstream(dir.file("i.gz"), std::ios::binary | std::ios::trunc) << bad;  // no fsync: 1500 files
    try {
      load_idx_files(dir.file("i.gz"), dir.file("l.gz"), 8);
      ++loaded;
    } catch (const std::runtime_error& e) {
      ++rejected;
      CHECK(std::string(e.what()).find(dir.file("i.gz")) != std::string::npos);
    }
  }
  MESSAGE("random gzip corruption: " << loaded << " loaded, " << rejected << " rejected");
  CHECK(rejected > 1000);
}

TEST_CASE("data: files that get shared name the data set, not the folder it lives in") {
  CHECK(dataset_name("fashion-mnist") == "fashion-mnist");
  CHECK(dataset_name("/home/alice/data/shoes") == "shoes");
  CHECK(dataset_name("/home/alice/data/shoes/") == "shoes");
  CHECK(dataset_name("/home/alice/data/./shoes/../boots") == "boots");
  CHECK(dataset_name("/") == "data");
  const std::map<std::string, std::string> idx = {
      {"data.spec", "/home/alice/idx"}, {"data.source", "/home/alice/idx (train)"}, {"data.height", "32"}};
  const auto shared = shareable_data_metadata(idx);
  CHECK(shared.at("data.spec") == "idx");
  CHECK(shared.at("data.source") == "idx (train)");
  CHECK(shared.at("data.height") == "32");
  for (const auto& [k, v] : shared) CHECK_MESSAGE(v.find("alice") == std::string::npos, k);
  // A PNG folder's source is the folder as given on the command line.
  const auto png = shareable_data_metadata({{"data.spec", "/home/alice/pngs"}, {"data.source", "../pngs"}});
  CHECK(png.at("data.source") == "pngs");
  // Without data.spec nothing changes.
  const std::map<std::string, std::string> none = {{"data.source", "/x/y"}};
  CHECK(shareable_data_metadata(none) == none);
}
