// A runtime autotuner, what cudnnFind does for cuDNN: for each key (an op's
// shape, direction and precision) it times the eligible variants once on the
// machine the program runs on, keeps the fastest, and from then on hands back
// that choice without timing again. So a new variant can only make a program
// faster, on GPUs nobody here measured.
//
// The rules (docs/gpu.md, "The conv2d autotuner"):
// - Variant 0 is the default (the variant the code would run untuned). Each
//   candidate runs once untimed (warm-up: first-launch costs, caches), then
//   kRepeats timed runs; its time is their median. Another variant replaces
//   the default only when its median is at least kMargin faster: a variant
//   that merely ties never displaces the one everybody has measured.
//   Among the others the fastest wins; exact ties go to the lower index.
// - A choice is kept for the life of the tuner: deterministic within a
//   process. Each new choice is logged (one line, to the log sink: stderr
//   unless set) with every candidate's median.
// - A timer may report a variant as unable to run (a negative time); it is
//   never chosen. If none can run, the default is.
// - Disabled (DDPM_AUTOTUNE=0 in the environment, or set_enabled(false)):
//   every key gets the default without timing.
// - Frozen (freeze(), before a CUDA graph is captured: timing synchronises
//   the device, which a capture forbids): keys already chosen keep their
//   choice; a new key gets the default, untimed, and is not remembered.
// - A cache file (DDPM_AUTOTUNE_CACHE=path, or set_cache_file): choices in it
//   are used without timing when the key and the variant's name match; each
//   new choice is written back (whole file, replaced atomically). A missing
//   file is an empty cache; an unreadable line is ignored with a warning.
// The tuner is thread-safe; the timer runs under its lock.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ddpm::kernels {

class Autotuner {
 public:
  static constexpr int kRepeats = 3;
  static constexpr double kMargin = 0.03;  // 3% faster than the default to replace it

  // time(i): runs variant i once and returns its time in seconds, or a
  // negative number when variant i cannot run on this input.
  using Timer = std::function<double(int)>;
  using Log = std::function<void(const std::string&)>;

  struct Choice {
    std::string key;
    std::string variant;             // the chosen variant's name
    std::vector<std::string> names;  // the candidates, in order
    std::vector<double> seconds;     // their medians (negative: cannot run; empty: from the cache)
  };

  // `what` names the op in log lines ("conv2d"). The environment variables
  // above are read here.
  explicit Autotuner(std::string what);

  // The index into `names` of the variant to run for `key` (names[0] is the
  // default). Times the variants through `time` when the key is new.
  int pick(const std::string& key, const std::vector<std::string>& names, const Timer& time);

  // The variant pick() would return for `key` without timing anything: its
  // choice if it has one, else the cache file's, else 0 (the default).
  // Nothing is remembered (used while a CUDA graph is being captured).
  int peek(const std::string& key, const std::vector<std::string>& names) const;

  void set_enabled(bool on);
  bool enabled() const;
  void freeze();
  void unfreeze();
  bool frozen() const;
  void set_log(Log log);
  // Reads `path` (if it exists) into the cache and writes new choices to it;
  // an empty path stops writing. Throws std::runtime_error naming the file
  // when it exists but cannot be read.
  void set_cache_file(const std::string& path);
  // Forgets every choice (the cache file is left as it is).
  void clear();
  std::vector<Choice> choices() const;
  // How many times the tuner has called a timer (tests).
  long timer_calls() const;

 private:
  void log_line(const std::string& line) const;
  void write_cache() const;

  std::string what_;
  mutable std::mutex mu_;
  bool enabled_ = true;
  bool frozen_ = false;
  Log log_;
  std::string cache_path_;
  std::map<std::string, std::string> file_choices_;  // key -> variant name, from the cache file
  std::map<std::string, Choice> chosen_;
  long timer_calls_ = 0;
};

// The process's conv2d tuner (kernels/cuda/conv2d.cu tunes the CUDA variants
// of Conv2dCudaAlgo::automatic through it).
Autotuner& conv2d_autotuner();

// Its key for one CUDA conv2d pass ("fwd", "bwd-data", "bwd-weight") of shape
// d at a precision ("fp32", "tf32"): benchmarks look their row's choice up by it.
struct Conv2dDims;
std::string conv2d_autotune_key(const std::string& pass, const Conv2dDims& d, const std::string& precision);

}  // namespace ddpm::kernels
