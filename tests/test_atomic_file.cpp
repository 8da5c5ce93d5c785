// Atomic whole-file writes and capped reads (io/atomic_file.h).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "io/atomic_file.h"
#include "tests/io_util.h"
#include "tests/preconditions.h"

using namespace ddpm;
using ddpm::test::check_contains;
using ddpm::test::error_message;
using ddpm::test::TempDir;

TEST_CASE("io: write_file_atomic creates and replaces a file, leaving no temporary") {
  TempDir dir;
  const std::string path = dir.file("a.bin");
  write_file_atomic(path, std::string("first"));
  CHECK(read_file(path) == "first");
  write_file_atomic(path, std::string("second, longer"));
  CHECK(read_file(path) == "second, longer");
  write_file_atomic(path, std::string());
  CHECK(read_file(path).empty());
  CHECK(dir.list() == std::vector<std::string>{"a.bin"});
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("io: write_file_atomic keeps the mode of the file it replaces") {
  TempDir dir;
  const std::string path = dir.file("m.bin");
  write_file_atomic(path, std::string("x"));
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  write_file_atomic(path, std::string("y"));
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("io: write_file_atomic onto a directory fails and leaves it intact") {
  TempDir dir;
  const std::string target = dir.file("sub");
  std::filesystem::create_directory(target);
  write_file_atomic(dir.file("sub/keep.txt"), std::string("keep"));
  check_contains(error_message<std::runtime_error>([&] { write_file_atomic(target, std::string("data")); }),
                 {target, "Is a directory"});
  CHECK(std::filesystem::is_directory(target));
  CHECK(read_file(dir.file("sub/keep.txt")) == "keep");
  CHECK(dir.list() == std::vector<std::string>{"sub"});
}

TEST_CASE("io: write_file_atomic into a missing directory names the path and the error") {
  TempDir dir;
  const std::string path = dir.file("no/such/dir/f.bin");
  check_contains(error_message<std::runtime_error>([&] { write_file_atomic(path, std::string("data")); }),
                 {path, "No such file or directory"});
  CHECK(dir.list().empty());
}

TEST_CASE("io: a write that fails half way leaves the old file intact and removes the temporary") {
  // Root ignores permission bits, so the failure comes from RLIMIT_FSIZE:
  // write(2) past the limit fails with EFBIG (SIGXFSZ is ignored meanwhile),
  // exactly as a full disk would fail the write with ENOSPC.
  TempDir dir;
  const std::string path = dir.file("ckpt.bin");
  write_file_atomic(path, std::string("old contents"));

  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  auto* old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 64 * 1024;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  try {
    write_file_atomic(path, std::string(1 << 20, 'n'));
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  std::signal(SIGXFSZ, old_handler);

  check_contains(message, {path, "writing the temporary file", "File too large"});
  CHECK(read_file(path) == "old contents");
  CHECK(dir.list() == std::vector<std::string>{"ckpt.bin"});
}

// Root ignores directory permissions (the RLIMIT_FSIZE case above covers a
// failing write there): CTest entry `nonroot`, skipped as root.
TEST_CASE("nonroot: io: write_file_atomic into a read-only directory fails" *
          test::unless_missing("nonroot")) {
  DDPM_REQUIRE_PRECONDITION("nonroot");
  TempDir dir;
  const std::string path = dir.file("f.bin");
  write_file_atomic(path, std::string("old"));
  REQUIRE(::chmod(dir.path().c_str(), 0500) == 0);
  check_contains(error_message<std::runtime_error>([&] { write_file_atomic(path, std::string("new")); }),
                 {path, "Permission denied"});
  REQUIRE(::chmod(dir.path().c_str(), 0700) == 0);
  CHECK(read_file(path) == "old");
}

TEST_CASE("io: read_file reports missing files, directories and the size cap") {
  TempDir dir;
  const std::string missing = dir.file("missing.bin");
  check_contains(error_message<std::runtime_error>([&] { read_file(missing); }),
                 {missing, "No such file or directory"});
  check_contains(error_message<std::runtime_error>([&] { read_file(dir.path().string()); }),
                 {dir.path().string(), "not a regular file"});
  const std::string path = dir.file("ten.bin");
  write_file_atomic(path, std::string(10, 'x'));
  CHECK(read_file(path, 10).size() == 10);
  check_contains(error_message<std::runtime_error>([&] { read_file(path, 9); }),
                 {path, "10 bytes, more than the limit of 9"});
}
