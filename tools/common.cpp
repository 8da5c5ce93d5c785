#include "tools/common.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "io/atomic_file.h"
#include "tensor/device_query.h"

namespace ddpm::tools {

Device resolve_device(const std::string& flag) {
  if (flag == "cpu") return Device::cpu;
  const CudaDeviceInfo info = cuda_device_info();
  if (flag == "auto") return info.device_count > 0 ? Device::cuda : Device::cpu;
  if (flag == "cuda") {
    if (info.device_count == 0)
      throw std::runtime_error("--device cuda: no usable GPU (" + info.why_none + ")");
    return Device::cuda;
  }
  throw std::invalid_argument("--device: '" + flag + "' is not one of auto, cpu, cuda");
}

namespace fs = std::filesystem;

CLI::Validator finite_range(double lo, double hi) {
  std::ostringstream desc;
  desc << "FLOAT in [" << lo << " - " << hi << "]";
  return CLI::Validator(
      [lo, hi](std::string& input) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(input, v) || !std::isfinite(v) || v < lo || v > hi) {
          std::ostringstream m;
          m << "Value " << input << " is not a finite number in [" << lo << ", " << hi << "]";
          return m.str();
        }
        return {};
      },
      desc.str());
}

CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        if (input.empty() || input.find_first_not_of("0123456789") != std::string::npos)
          return "Value " + input + " is not a non-negative decimal integer";
        errno = 0;
        std::strtoull(input.c_str(), nullptr, 10);
        if (errno == ERANGE) return "Value " + input + " is larger than 18446744073709551615";
        return {};
      },
      "UINT");
}

int usage_exit(const CLI::App& app, const CLI::ParseError& e) {
  const int code = app.exit(e);
  return code == 0 ? 0 : 2;
}

namespace {

// path without a trailing separator ("a/b/" -> "a/b"), "." for "".
fs::path tidy(const std::string& path) {
  fs::path p(path);
  while (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p.empty() ? fs::path(".") : p;
}

[[noreturn]] void path_error(const std::string& flag, const std::string& path, const std::string& what) {
  throw std::runtime_error(flag + " '" + path + "': " + what);
}

}  // namespace

namespace {

// check_directory_path, with errors naming `shown` (the flag's value) while
// checking `dir` (the folder it needs).
void check_folder(const std::string& flag, const std::string& shown, const std::string& dir) {
  const fs::path want = tidy(dir);
  for (fs::path p = want;; p = p.parent_path()) {
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    if (fs::exists(st)) {
      if (fs::is_directory(st)) return;
      path_error(flag, shown,
                 (p.string() == shown ? std::string("exists and is not a directory")
                                      : "'" + p.string() + "' is not a directory") +
                     ", expected a folder (or a path where one can be created)");
    }
    if (!p.has_parent_path() || p.parent_path() == p) return;  // relative: the working folder exists
  }
}

std::vector<std::string> make_folder(const std::string& flag, const std::string& shown,
                                     const std::string& dir) {
  check_folder(flag, shown, dir);
  std::vector<fs::path> missing;
  for (fs::path p = tidy(dir); !fs::exists(p); p = p.parent_path()) {
    missing.push_back(p);
    if (!p.has_parent_path() || p.parent_path() == p) break;
  }
  std::vector<std::string> created;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    std::error_code ec;
    if (!fs::create_directory(*it, ec) && ec) {
      remove_created(created);
      path_error(flag, shown, "cannot create '" + it->string() + "': " + ec.message());
    }
    created.push_back(it->string());
  }
  return created;
}

}  // namespace

void check_directory_path(const std::string& flag, const std::string& path) {
  if (path.empty()) path_error(flag, path, "empty path, expected a folder");
  check_folder(flag, path, path);
}

std::vector<std::string> make_directories(const std::string& flag, const std::string& dir) {
  if (dir.empty()) path_error(flag, dir, "empty path, expected a folder");
  return make_folder(flag, dir, dir);
}

void remove_created(const std::vector<std::string>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    std::error_code ec;
    fs::remove(*it, ec);  // only succeeds on an empty directory
  }
}

std::vector<std::string> prepare_output_file(const std::string& flag, const std::string& path) {
  if (path.empty()) path_error(flag, path, "empty path, expected a file name");
  std::error_code ec;
  if (fs::is_directory(path, ec)) path_error(flag, path, "is a directory, expected a file name");
  const fs::path p(path);
  if (!p.has_filename()) path_error(flag, path, "ends with a separator, expected a file name");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::vector<std::string> created = make_folder(flag, path, dir.string());
  try {
    const std::string probe = (dir / ("." + p.filename().string() + ".write-test")).string();
    write_file_atomic(probe, std::string("probe"));
    fs::remove(probe, ec);
  } catch (const std::exception& e) {
    remove_created(created);
    path_error(flag, path, std::string("cannot write there: ") + e.what());
  }
  return created;
}

void set_sampler_steps(SamplerConfig& sc, int64_t steps, const std::string& spacing, int64_t T) {
  if (!spacing.empty() && sc.kind == SamplerKind::ddpm && parse_spacing(spacing) != Spacing::leading)
    throw std::invalid_argument("--spacing " + spacing +
                                ": --sampler ddpm takes its strided steps with leading spacing only (the "
                                "spacings apply to ddim, dpm++2m and euler-a)");
  sc.steps = steps ? steps : default_steps(sc.kind, T);
  if (sc.steps > T)
    throw std::invalid_argument("--steps " + std::to_string(sc.steps) + " exceeds the model's " +
                                std::to_string(T) + " training timesteps");
  sc.spacing = spacing.empty() ? default_spacing(sc.kind) : parse_spacing(spacing);
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(t / 3600),
                  static_cast<long long>(t / 60 % 60));
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(t / 60),
                  static_cast<long long>(t % 60));
  else
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(t));
  return buf;
}

Progress::Progress(std::string label, int64_t total, int64_t start)
    : label_(std::move(label)), total_(total), start_(start), tty_(isatty(STDERR_FILENO) != 0) {
  t0_ = last_print_ = std::chrono::steady_clock::now();
}

void Progress::update(int64_t done, const std::string& extra, double items_per_unit) {
  const auto now = std::chrono::steady_clock::now();
  const double since_print = std::chrono::duration<double>(now - last_print_).count();
  const bool last = done >= total_;
  // Redraw at most 10x/s on a terminal, every 10 s in a log.
  if (!last && since_print < (tty_ ? 0.1 : 10.0)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - t0_).count();
  const double rate = elapsed > 0 ? static_cast<double>(done - start_) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : -1;
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(static_cast<double>(width) * static_cast<double>(done) /
                                                   static_cast<double>(total_))
                                : width;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), ' ');
  std::fprintf(stderr, "%s%s %lld/%lld [%s] %s %.1f img/s ETA %s%s", tty_ ? "\r" : "", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), bar.c_str(), extra.c_str(),
               rate * items_per_unit, format_duration(eta).c_str(), tty_ ? "\033[K" : "\n");
  std::fflush(stderr);
}

void Progress::finish(const std::string& extra) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  std::fprintf(stderr, "%s%s done in %s %s\n", tty_ ? "\r\033[K" : "", label_.c_str(),
               format_duration(elapsed).c_str(), extra.c_str());
}

}  // namespace ddpm::tools
