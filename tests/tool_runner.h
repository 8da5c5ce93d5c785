// Helpers for the `tools:` tests, which run the real ddpm-train,
// ddpm-sample and ddpm-eval (paths from the compile definitions
// DDPM_TRAIN_EXE, DDPM_SAMPLE_EXE and DDPM_EVAL_EXE): start a program with its output captured,
// optionally with RLIMIT_FSIZE (a disk that fills up); wait for it with a
// deadline (a hang fails the test instead of stalling CI); snapshot a folder
// to show that a failed run left it untouched; write tiny data sets.
//
// Every training run here is tiny (UNet base 8, time embedding 16, batch 4,
// 8x8 images padded to 32x32, one thread) so the whole group stays fast.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "io/atomic_file.h"
#include "io/images.h"
#include "tests/io_util.h"

namespace ddpm::test {

inline const std::string kTrainExe = DDPM_TRAIN_EXE;
inline const std::string kSampleExe = DDPM_SAMPLE_EXE;
inline const std::string kEvalExe = DDPM_EVAL_EXE;

// A whole text file (empty when it cannot be read).
inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct RunResult {
  int status = -1;         // exit status, or 128 + signal number
  bool timed_out = false;  // killed after the deadline
  std::string output;      // stdout and stderr together
};

// A started program; its stdout and stderr go into a pipe (not a file, which
// RLIMIT_FSIZE would cut short) that wait() drains.
class Child {
 public:
  // rlimit_fsize >= 0: the child's RLIMIT_FSIZE in bytes (a write beyond it
  // fails with EFBIG; the programs ignore SIGXFSZ).
  Child(const std::string& exe, const std::vector<std::string>& args, int64_t rlimit_fsize = -1) {
    std::vector<std::string> all{exe};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      if (rlimit_fsize >= 0) {
        struct rlimit rl {};
        rl.rlim_cur = rl.rlim_max = static_cast<rlim_t>(rlimit_fsize);
        ::setrlimit(RLIMIT_FSIZE, &rl);
      }
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_fd_ = fds[0];
    ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }

  // Waits up to timeout_s; past it the child is killed and timed_out set.
  RunResult wait(double timeout_s = 120) {
    RunResult r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    int st = 0;
    for (;;) {
      drain();
      const pid_t w = ::waitpid(pid_, &st, WNOHANG);
      if (w == pid_) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        r.timed_out = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    reaped_ = true;
    drain();
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.output = output_;
    return r;
  }

 private:
  void drain() {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_fd_, buf, sizeof buf)) > 0) output_.append(buf, static_cast<size_t>(n));
  }
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
  std::string output_;
};

inline RunResult run_program(const std::string& exe, const std::vector<std::string>& args, const TempDir&,
                             int64_t rlimit_fsize = -1) {
  Child c(exe, args, rlimit_fsize);
  RunResult r = c.wait();
  CHECK_MESSAGE(!r.timed_out, "timed out: " << exe);
  return r;
}

// Checks status and that the output contains every part (printed on failure).
inline void check_run(const RunResult& r, int status, std::initializer_list<std::string> parts) {
  CHECK_MESSAGE(r.status == status, "status " << r.status << ", expected " << status << "; output:\n"
                                              << r.output);
  check_contains(r.output, parts);
}

// The flags of a tiny, fast training run.
inline std::vector<std::string> tiny_train_flags(const std::string& data, const std::string& out,
                                                 int64_t steps) {
  return {"--data",
          data,
          "--out",
          out,
          "--steps",
          std::to_string(steps),
          "--base-channels",
          "8",
          "--time-embed-dim",
          "16",
          "--batch-size",
          "4",
          "--sample-num",
          "1",
          "--sample-steps",
          "1",
          "--threads",
          "1",
          "--device",
          "cpu"};
}

// The list with `flag` set to `value`: replaced where present, else appended.
inline std::vector<std::string> set_flag(std::vector<std::string> args, const std::string& flag,
                                         const std::string& value) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == flag) {
      args[i + 1] = value;
      return args;
    }
  args.push_back(flag);
  args.push_back(value);
  return args;
}

// Appends more flags to a list.
inline std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// n gray (channels 1) or RGB (3) PNGs of h x w with varied pixels, 000.png ...
inline void write_png_folder(const std::filesystem::path& dir, int n, int64_t h, int64_t w,
                             int64_t channels = 1, int first = 0) {
  std::filesystem::create_directories(dir);
  for (int i = first; i < first + n; ++i) {
    Raster r{w, h, channels, std::vector<uint8_t>(static_cast<size_t>(w * h * channels))};
    for (size_t k = 0; k < r.pixels.size(); ++k)
      r.pixels[k] = static_cast<uint8_t>((k * 37 + static_cast<size_t>(i) * 101) % 256);
    char name[32];
    std::snprintf(name, sizeof name, "%03d.png", i);
    write_png((dir / name).string(), r);
  }
}

// Every regular file under dir: relative path -> (bytes, mtime).
using Snapshot = std::map<std::string, std::pair<std::string, std::filesystem::file_time_type>>;
inline Snapshot snapshot(const std::filesystem::path& dir) {
  Snapshot s;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      s[std::filesystem::relative(e.path(), dir).string()] = {read_file(e.path().string()),
                                                              e.last_write_time()};
  return s;
}
inline std::vector<std::string> names(const Snapshot& s) {
  std::vector<std::string> out;
  for (const auto& [k, v] : s) out.push_back(k);
  return out;
}
// Checks that dir holds exactly the files of `before`, byte for byte, with
// the same modification times.
inline void check_unchanged(const Snapshot& before, const std::filesystem::path& dir) {
  const Snapshot after = snapshot(dir);
  CHECK(names(after) == names(before));
  for (const auto& [name, v] : before) {
    auto it = after.find(name);
    if (it == after.end()) continue;
    CHECK_MESSAGE(it->second.first == v.first, name << " changed");
    CHECK_MESSAGE(it->second.second == v.second, name << " was rewritten");
  }
}

}  // namespace ddpm::test
