#include "tools/common.h"

#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "tensor/device_query.h"

namespace ddpm::tools {

Device resolve_device(const std::string& flag) {
  if (flag == "cpu") return Device::cpu;
  const CudaDeviceInfo info = cuda_device_info();
  if (flag == "auto") return info.device_count > 0 ? Device::cuda : Device::cpu;
  if (flag == "cuda") {
    if (info.device_count == 0) throw std::runtime_error("--device cuda: no usable GPU (" + info.why_none + ")");
    return Device::cuda;
  }
  throw std::invalid_argument("--device: '" + flag + "' is not one of auto, cpu, cuda");
}

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e7) return "--";
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(t / 3600), static_cast<long long>(t / 60 % 60));
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(t / 60), static_cast<long long>(t % 60));
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
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  std::fprintf(stderr, "%s%s done in %s %s\n", tty_ ? "\r\033[K" : "", label_.c_str(),
               format_duration(elapsed).c_str(), extra.c_str());
}

}  // namespace ddpm::tools
