#include "kernels/autotune.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "kernels/conv2d.h"

namespace ddpm::kernels {

namespace {

std::string format_ms(double seconds) {
  if (seconds < 0) return "cannot run";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g ms", seconds * 1e3);
  return buf;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

Autotuner::Autotuner(std::string what) : what_(std::move(what)) {
  if (const char* on = std::getenv("DDPM_AUTOTUNE"); on && std::strcmp(on, "0") == 0) enabled_ = false;
  if (const char* path = std::getenv("DDPM_AUTOTUNE_CACHE"); path && *path) set_cache_file(path);
}

void Autotuner::log_line(const std::string& line) const {
  if (log_)
    log_(line);
  else
    std::fprintf(stderr, "%s\n", line.c_str());
}

int Autotuner::pick(const std::string& key, const std::vector<std::string>& names, const Timer& time) {
  if (names.empty()) throw std::invalid_argument("autotune " + what_ + ": no variants for " + key);
  std::lock_guard<std::mutex> lock(mu_);
  const auto index_of = [&](const std::string& name) {
    const auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
  };
  if (const auto it = chosen_.find(key); it != chosen_.end() && it->second.names == names)
    return index_of(it->second.variant);
  if (!enabled_ || names.size() == 1) return 0;
  if (const auto it = file_choices_.find(key); it != file_choices_.end()) {
    const int i = index_of(it->second);
    if (i >= 0) {
      chosen_[key] = Choice{key, names[static_cast<size_t>(i)], names, {}};
      log_line("autotune " + what_ + " " + key + ": " + names[static_cast<size_t>(i)] + " (from " +
               cache_path_ + ")");
      return i;
    }
  }
  if (frozen_) return 0;

  std::vector<double> seconds(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    ++timer_calls_;
    const double warm = time(static_cast<int>(i));
    if (warm < 0) {
      seconds[i] = -1;
      continue;
    }
    std::vector<double> runs;
    for (int r = 0; r < kRepeats; ++r) {
      ++timer_calls_;
      runs.push_back(time(static_cast<int>(i)));
    }
    seconds[i] = *std::min_element(runs.begin(), runs.end()) < 0 ? -1 : median(runs);
  }
  int best = -1;
  for (size_t i = 1; i < names.size(); ++i)
    if (seconds[i] >= 0 && (best < 0 || seconds[i] < seconds[static_cast<size_t>(best)]))
      best = static_cast<int>(i);
  int pick = 0;
  if (best > 0 && (seconds[0] < 0 || seconds[static_cast<size_t>(best)] <= (1 - kMargin) * seconds[0]))
    pick = best;
  chosen_[key] = Choice{key, names[static_cast<size_t>(pick)], names, seconds};

  std::ostringstream line;
  line << "autotune " << what_ << " " << key << ": " << names[static_cast<size_t>(pick)] << " (";
  for (size_t i = 0; i < names.size(); ++i)
    line << (i ? ", " : "") << names[i] << " " << format_ms(seconds[i]);
  line << ")";
  log_line(line.str());
  if (!cache_path_.empty()) {
    file_choices_[key] = names[static_cast<size_t>(pick)];
    write_cache();
  }
  return pick;
}

int Autotuner::peek(const std::string& key, const std::vector<std::string>& names) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!enabled_) return 0;
  std::string variant;
  if (const auto it = chosen_.find(key); it != chosen_.end() && it->second.names == names)
    variant = it->second.variant;
  else if (const auto f = file_choices_.find(key); f != file_choices_.end())
    variant = f->second;
  const auto it = std::find(names.begin(), names.end(), variant);
  return it == names.end() ? 0 : static_cast<int>(it - names.begin());
}

void Autotuner::set_enabled(bool on) {
  std::lock_guard<std::mutex> lock(mu_);
  enabled_ = on;
}

bool Autotuner::enabled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return enabled_;
}

void Autotuner::freeze() {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = true;
}

void Autotuner::unfreeze() {
  std::lock_guard<std::mutex> lock(mu_);
  frozen_ = false;
}

bool Autotuner::frozen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return frozen_;
}

void Autotuner::set_log(Log log) {
  std::lock_guard<std::mutex> lock(mu_);
  log_ = std::move(log);
}

// The file: one choice per line, "key<TAB>variant"; '#' starts a comment.
void Autotuner::set_cache_file(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_path_ = path;
  if (path.empty()) return;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return;  // a new cache
    throw std::runtime_error("autotune " + what_ + ": cannot read the cache file " + path + ": " +
                             std::strerror(errno));
  }
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos || tab == 0 || tab + 1 == line.size() ||
        line.find('\t', tab + 1) != std::string::npos) {
      log_line("autotune " + what_ + ": " + path + ":" + std::to_string(lineno) +
               ": ignored (expected \"key<TAB>variant\")");
      continue;
    }
    file_choices_[line.substr(0, tab)] = line.substr(tab + 1);
  }
}

void Autotuner::write_cache() const {
  const std::string tmp = cache_path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "# ddpm autotune choices (" << what_ << "): key<TAB>variant\n";
    for (const auto& [key, variant] : file_choices_) out << key << '\t' << variant << '\n';
    if (!out) {
      log_line("autotune " + what_ + ": cannot write the cache file " + tmp + " (choices kept in memory)");
      return;
    }
  }
  if (std::rename(tmp.c_str(), cache_path_.c_str()) != 0)
    log_line("autotune " + what_ + ": cannot replace the cache file " + cache_path_ + ": " +
             std::strerror(errno) + " (choices kept in memory)");
}

void Autotuner::clear() {
  std::lock_guard<std::mutex> lock(mu_);
  chosen_.clear();
}

std::vector<Autotuner::Choice> Autotuner::choices() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Choice> out;
  for (const auto& [key, c] : chosen_) out.push_back(c);
  return out;
}

long Autotuner::timer_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return timer_calls_;
}

std::string conv2d_autotune_key(const std::string& pass, const Conv2dDims& d, const std::string& precision) {
  const auto n = [](int64_t v) { return std::to_string(v); };
  return pass + " x [" + n(d.N) + ", " + n(d.Cin) + ", " + n(d.H) + ", " + n(d.W) + "], w [" + n(d.Cout) +
         ", " + n(d.Cin) + ", " + n(d.K) + ", " + n(d.K) + "], stride " + n(d.stride) + ", padding " +
         n(d.pad) + ", " + precision;
}

Autotuner& conv2d_autotuner() {
  static Autotuner* tuner = new Autotuner("conv2d");  // leaked: usable from static destructors
  return *tuner;
}

}  // namespace ddpm::kernels
