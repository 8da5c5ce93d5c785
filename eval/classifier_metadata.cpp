#include "eval/classifier_metadata.h"

#include <sstream>
#include <stdexcept>

namespace ddpm::eval {

namespace {

constexpr int64_t kMaxSide = 4096;
constexpr int64_t kMaxChannels = 64;
constexpr int64_t kMaxClasses = 100000;

std::string squote(const std::string& s) { return "'" + s + "'"; }

int64_t meta_int(const std::string& path, const std::map<std::string, std::string>& meta,
                 const std::string& key, int64_t lo, int64_t hi) {
  auto it = meta.find(key);
  if (it == meta.end())
    throw std::runtime_error("classifier " + squote(path) + ": __metadata__ has no " + squote(key) +
                             " (expected it in a file written by ddpm-classify train)");
  const std::string& s = it->second;
  size_t used = 0;
  long long v = 0;
  const bool digits = !s.empty() && s[0] >= '0' && s[0] <= '9';
  try {
    if (digits) v = std::stoll(s, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (!digits || used != s.size() || v < lo || v > hi)
    throw std::runtime_error("classifier " + squote(path) + ": __metadata__ " + squote(key) + " is " +
                             squote(s) + ", expected an integer in " + std::to_string(lo) + ".." +
                             std::to_string(hi));
  return v;
}

}  // namespace

std::vector<std::string> split_class_names(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  if (!s.empty() && s.back() == ',') out.emplace_back();
  return out;
}

ClassifierMetadata read_classifier_metadata(const std::map<std::string, std::string>& meta,
                                            const std::string& path) {
  ClassifierMetadata out;
  out.meta = meta;
  auto tag = out.meta.find("ddpm_eval");
  if (tag == out.meta.end() || tag->second != kClassifierFormat)
    throw std::runtime_error("classifier " + squote(path) +
                             ": not a classifier file (__metadata__ ddpm_eval is " +
                             (tag == out.meta.end() ? std::string("missing") : squote(tag->second)) +
                             ", expected " + squote(kClassifierFormat) + ", as ddpm-classify train writes)");
  auto arch = out.meta.find("arch");
  if (arch == out.meta.end() || arch->second != kClassifierArch)
    throw std::runtime_error(
        "classifier " + squote(path) + ": arch is " +
        (arch == out.meta.end() ? std::string("missing") : squote(arch->second)) + ", expected " +
        squote(kClassifierArch) +
        " (a classifier of another architecture; train a new one with ddpm-classify train)");
  out.channels = meta_int(path, out.meta, "input_channels", 1, kMaxChannels);
  out.height = meta_int(path, out.meta, "input_height", 4, kMaxSide);
  out.width = meta_int(path, out.meta, "input_width", 4, kMaxSide);
  out.classes = meta_int(path, out.meta, "classes", 2, kMaxClasses);
  auto names = out.meta.find("class_names");
  if (names == out.meta.end())
    throw std::runtime_error("classifier " + squote(path) + ": __metadata__ has no 'class_names'");
  out.class_names = split_class_names(names->second);
  if (static_cast<int64_t>(out.class_names.size()) != out.classes)
    throw std::runtime_error("classifier " + squote(path) + ": class_names lists " +
                             std::to_string(out.class_names.size()) + " names, expected " +
                             std::to_string(out.classes) + " (classes)");

  return out;
}

}  // namespace ddpm::eval
