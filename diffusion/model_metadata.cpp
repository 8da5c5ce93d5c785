#include "diffusion/model_metadata.h"

#include <stdexcept>

#include "io/data.h"

namespace ddpm {

namespace {

// A non-negative decimal integer of __metadata__ in [lo, hi].
int64_t meta_int(const std::string& path, const std::map<std::string, std::string>& meta,
                 const std::string& key, int64_t lo, int64_t hi) {
  auto it = meta.find(key);
  if (it == meta.end())
    throw std::runtime_error(path + ": __metadata__ has no '" + key +
                             "' (expected the data set's geometry, "
                             "which ddpm-train writes)");
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
    throw std::runtime_error(path + ": __metadata__ '" + key + "' is '" + s + "', expected an integer in " +
                             std::to_string(lo) + ".." + std::to_string(hi));
  return v;
}

}  // namespace

ModelMetadata read_model_metadata(const std::map<std::string, std::string>& meta, const std::string& path) {
  ModelMetadata out;
  out.meta = meta;
  auto fmt = out.meta.find("format");
  if (fmt == out.meta.end() || fmt->second != "ddpm-engine model v1")
    throw std::runtime_error(path + ": not a ddpm-engine model file (__metadata__ 'format' is " +
                             (fmt == out.meta.end() ? std::string("missing") : "'" + fmt->second + "'") +
                             ", expected 'ddpm-engine model v1'; a training state file is state.safetensors, "
                             "the model is model.safetensors)");
  try {
    out.config = TrainConfig::from_map(out.meta);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad __metadata__: " + e.what());
  }

  // The image geometry: the sampler draws [N, C, height, width] noise, and
  // the UNet pools three times.
  constexpr int64_t kMaxSide = 4096;
  if (out.meta.count("data.channels"))
    meta_int(path, out.meta, "data.channels", out.config.model.in_channels, out.config.model.in_channels);
  out.height = meta_int(path, out.meta, "data.height", 8, kMaxSide);
  out.width = meta_int(path, out.meta, "data.width", 8, kMaxSide);
  if (out.height % 8 != 0 || out.width % 8 != 0)
    throw std::runtime_error(path + ": __metadata__ data.height x data.width is " +
                             std::to_string(out.height) + "x" + std::to_string(out.width) +
                             ", expected multiples of 8 (the UNet pools 3 times)");
  if (const int64_t m = out.config.model.size_multiple(); out.height % m != 0 || out.width % m != 0)
    throw std::runtime_error(path + ": __metadata__ data.height x data.width is " +
                             std::to_string(out.height) + "x" + std::to_string(out.width) +
                             ", expected multiples of " + std::to_string(m) + " (the ddpm UNet's " +
                             std::to_string(out.config.model.levels()) + " levels halve it " +
                             std::to_string(out.config.model.levels() - 1) + " times)");
  try {
    out.crop = crop_from_metadata(out.meta);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad __metadata__: " + e.what());
  }
  if (!out.crop.empty() && (out.crop.top > out.height || out.crop.height > out.height - out.crop.top ||
                            out.crop.left > out.width || out.crop.width > out.width - out.crop.left))
    throw std::runtime_error(path + ": __metadata__ crop (data.pad_top " + std::to_string(out.crop.top) +
                             ", data.pad_left " + std::to_string(out.crop.left) + ", data.orig_height " +
                             std::to_string(out.crop.height) + ", data.orig_width " +
                             std::to_string(out.crop.width) + ") does not fit in the " +
                             std::to_string(out.height) + "x" + std::to_string(out.width) + " image");

  try {
    check_condition_geometry(out.config, out.height, out.width);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad __metadata__: " + e.what());
  }
  if (out.config.model.num_classes > 0) {
    try {
      out.class_names = class_names_from_metadata(out.meta);
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ": bad __metadata__: " + e.what());
    }
    const int64_t k = out.config.model.num_classes;
    if (out.class_names.empty())
      for (int64_t i = 0; i < k; ++i) out.class_names.push_back(std::to_string(i));
    if (static_cast<int64_t>(out.class_names.size()) != k)
      throw std::runtime_error(path + ": __metadata__ data.class_names has " +
                               std::to_string(out.class_names.size()) + " names, the model has num_classes " +
                               std::to_string(k));
  }
  return out;
}

}  // namespace ddpm
