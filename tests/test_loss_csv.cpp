// loss.csv (io/loss_csv.h) and the removal of temporaries a killed atomic
// write leaves behind (io/stale_temporaries.h).
#include <doctest/doctest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "io/atomic_file.h"
#include "io/loss_csv.h"
#include "io/stale_temporaries.h"
#include "io_util.h"

using namespace ddpm;
namespace fs = std::filesystem;

TEST_CASE("io: loss.csv has its header and 8 significant digits per number") {
  const std::vector<LossRow> rows = {{0, 0.123456789012, 2.5, 1e-5, 1234.5678912},
                                     {1, std::numeric_limits<double>::quiet_NaN(), 3.0, 2e-5, 0}};
  CHECK(format_loss_csv(rows) ==
        "step,loss,grad_norm,lr,images_per_s\n"
        "0,0.12345679,2.5,1e-05,1234.5679\n"
        "1,nan,3,2e-05,0\n");
  CHECK(format_loss_csv({}) == "step,loss,grad_norm,lr,images_per_s\n");
  // A NaN with its sign bit set (what some builds' arithmetic leaves) is "nan" too.
  const double neg_nan = -std::numeric_limits<double>::quiet_NaN();
  REQUIRE(std::signbit(neg_nan));
  CHECK(format_loss_csv({{2, neg_nan, neg_nan, 1e-5, 0}}) ==
        "step,loss,grad_norm,lr,images_per_s\n"
        "2,nan,nan,1e-05,0\n");
}

TEST_CASE("io: loss.csv reads back the rows before a step, nan rows included, skipping bad lines") {
  std::vector<LossRow> rows;
  for (int64_t s = 0; s < 6; ++s)
    rows.push_back({s, 1.0 / static_cast<double>(s + 1), 0.5 * static_cast<double>(s), 1e-3, 100});
  rows[2].loss = std::numeric_limits<double>::quiet_NaN();
  const std::string text = format_loss_csv(rows);

  const std::vector<LossRow> back = parse_loss_csv(text, 4);
  REQUIRE(back.size() == 4);
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].step == static_cast<int64_t>(i));
    CHECK(back[i].grad_norm == doctest::Approx(rows[i].grad_norm));
  }
  CHECK(std::isnan(back[2].loss));
  CHECK(back[3].loss == doctest::Approx(0.25));
  CHECK(parse_loss_csv(text, 100).size() == 6);
  CHECK(parse_loss_csv(text, 0).empty());
  // What was written round-trips at the file's precision.
  CHECK(format_loss_csv(parse_loss_csv(text, 100)) == text);
  // A torn last line and a stray text line are dropped, not misread.
  CHECK(parse_loss_csv(text + "6,0.5,1\nnot,a,row\n", 100).size() == 6);
  // The first line is the header even when it looks like a row.
  CHECK(parse_loss_csv("0,1,2,3,4\n1,1,2,3,4\n", 100).size() == 1);
}

TEST_CASE("io: read_loss_csv reads a file and gives no rows for a missing one") {
  test::TempDir dir;
  write_file_atomic(dir.file("loss.csv"),
                    format_loss_csv({{0, 1, 2, 3, 4}, {1, 5, 6, 7, 8}, {2, 9, 10, 11, 12}}));
  const std::vector<LossRow> rows = read_loss_csv(dir.file("loss.csv"), 2);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].step == 1);
  CHECK(rows[1].loss == 5);
  CHECK(rows[1].images_per_s == 8);
  CHECK(read_loss_csv(dir.file("missing.csv"), 10).empty());
}

TEST_CASE("io: the names of atomic-write temporaries are recognised and nothing else") {
  CHECK(is_atomic_write_temporary(".loss.csv.tmp.AbC123"));
  CHECK(is_atomic_write_temporary(".x.tmp.zzzzzz"));
  CHECK_FALSE(is_atomic_write_temporary("loss.csv"));
  CHECK_FALSE(is_atomic_write_temporary("loss.csv.tmp.AbC123"));  // no leading dot
  CHECK_FALSE(is_atomic_write_temporary(".loss.csv.tmp.AbC12"));  // five characters
  CHECK_FALSE(is_atomic_write_temporary(".loss.csv.tmp.AbC1234"));
  CHECK_FALSE(is_atomic_write_temporary(".tmp.AbC123"));  // no name
  CHECK_FALSE(is_atomic_write_temporary("."));
  // What write_file_atomic's mkstemp template makes.
  test::TempDir dir;
  std::string templ = dir.file(".state.safetensors.tmp.XXXXXX");
  const int fd = ::mkstemp(templ.data());
  REQUIRE(fd >= 0);
  ::close(fd);
  CHECK(is_atomic_write_temporary(fs::path(templ).filename().string()));
}

TEST_CASE("io: remove_stale_temporaries removes temporaries in the given folders only") {
  test::TempDir dir;
  const fs::path root = dir.path(), samples = root / "samples", other = root / "other";
  fs::create_directories(samples);
  fs::create_directories(other);
  auto touch = [](const fs::path& p) { std::ofstream(p) << "x"; };
  touch(root / ".loss.csv.tmp.a1b2c3");
  touch(root / ".state.safetensors.tmp.Q9w8e7");
  touch(samples / ".step_000010.png.tmp.zzzzzz");
  touch(root / "loss.csv");
  touch(root / ".hidden");
  touch(other / ".x.tmp.aaaaaa");                    // not a folder it was given
  fs::create_directories(root / ".dir.tmp.bbbbbb");  // not a regular file
  CHECK(remove_stale_temporaries({root.string(), samples.string(), (root / "missing").string()}) == 3);
  CHECK_FALSE(fs::exists(root / ".loss.csv.tmp.a1b2c3"));
  CHECK_FALSE(fs::exists(samples / ".step_000010.png.tmp.zzzzzz"));
  CHECK(fs::exists(root / "loss.csv"));
  CHECK(fs::exists(root / ".hidden"));
  CHECK(fs::exists(other / ".x.tmp.aaaaaa"));
  CHECK(fs::is_directory(root / ".dir.tmp.bbbbbb"));
  CHECK(remove_stale_temporaries({root.string(), samples.string()}) == 0);
}
