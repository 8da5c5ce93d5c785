// reference_set: a data set's classifier features and their statistics,
// cached in a safetensors file beside the classifier.
//
// Cache file: tensors "features" (F32 [N, 128]), "mu" (F64 [128]), "sigma"
// (F64 [128, 128]); __metadata__ ddpm_eval = "reference_features", tag,
// classifier_fingerprint, classifier_arch, data, split, n, feature_width,
// data_fingerprint. The tag holds all of what the features depend on, so a
// cache is used only when its tag equals the one computed now.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "eval/classifier.h"
#include "io/data.h"
#include "io/safetensors.h"
#include "tensor/fnv1a.h"

namespace ddpm::eval {

namespace {

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// "fashion-mnist", or the folder's name (characters outside [A-Za-z0-9._-]
// as '_') and 8 hex digits of the hash of its absolute path.
std::string data_name(const std::string& data) {
  if (data == "fashion-mnist") return data;
  const std::filesystem::path abs = std::filesystem::absolute(data).lexically_normal();
  std::string base = abs.filename().string();
  if (base.empty()) base = abs.parent_path().filename().string();
  for (char& ch : base)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '_' || ch == '-')) ch = '_';
  const std::string s = abs.string();
  return (base.empty() ? std::string("data") : base) + "-" + hex64(fnv1a(s.data(), s.size())).substr(0, 8);
}

// The cached set when the file is a readable cache with this tag and sane
// shapes; nothing otherwise (the caller recomputes and rewrites it).
bool read_cache(const std::string& path, const std::string& tag, ReferenceSet& out) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  try {
    const SafetensorsFile f = load_safetensors(path);
    const auto& md = f.metadata();
    auto fmt = md.find("ddpm_eval");
    auto t = md.find("tag");
    if (fmt == md.end() || fmt->second != kReferenceFormat || t == md.end() || t->second != tag) return false;
    const int64_t d = nn::kClassifierFeatures;
    const int64_t n = std::stoll(md.at("n"));
    if (n < 2 || !check_names(f, {{"features", {n, d}}, {"mu", {d}}, {"sigma", {d, d}}}).ok()) return false;
    out.features = f.tensor("features", DType::f32);
    out.stats.n = n;
    out.stats.dim = d;
    out.stats.mean = f.tensor("mu", DType::f64).to_vector<double>();
    out.stats.cov = f.tensor("sigma", DType::f64).to_vector<double>();
    return true;
  } catch (const std::exception&) {
    return false;  // unreadable or malformed: recomputed and rewritten, never used
  }
}

}  // namespace

std::string reference_cache_path(const std::string& classifier_path, const std::string& data,
                                 const std::string& split) {
  const std::filesystem::path p(classifier_path);
  std::string stem = p.filename().string();
  const std::string ext = ".safetensors";
  if (stem.size() > ext.size() && stem.compare(stem.size() - ext.size(), ext.size(), ext) == 0)
    stem.resize(stem.size() - ext.size());
  return (p.parent_path() / (stem + "." + data_name(data) + "-" + split + ".features.safetensors")).string();
}

ReferenceSet reference_set(const LoadedClassifier& c, const std::string& classifier_path,
                           const std::string& data, const std::string& split) {
  const ImageDataset set = resolve_dataset(data, split, 0);
  if (set.size() < 2)
    throw std::invalid_argument("reference_set: '" + data + "' " + split + " has " +
                                std::to_string(set.size()) +
                                " images, expected at least 2 (a covariance needs two)");
  const std::string data_fp = hex64(fnv1a(set.images.raw_data(), set.images.nbytes()));
  ReferenceSet out;
  out.tag = std::string(kClassifierArch) + " " + c.fingerprint + " " + data_name(data) + "/" + split +
            " n=" + std::to_string(set.size()) + " images " + data_fp;
  out.cache_path = reference_cache_path(classifier_path, data, split);
  if (read_cache(out.cache_path, out.tag, out)) {
    out.from_cache = true;
    return out;
  }
  out.features = classify(c, set.images).features;
  out.stats = feature_stats(out.features);
  const std::map<std::string, std::string> md = {{"ddpm_eval", kReferenceFormat},
                                                 {"tag", out.tag},
                                                 {"classifier_fingerprint", c.fingerprint},
                                                 {"classifier_arch", kClassifierArch},
                                                 {"data", data},
                                                 {"split", split},
                                                 {"n", std::to_string(set.size())},
                                                 {"feature_width", std::to_string(nn::kClassifierFeatures)},
                                                 {"data_fingerprint", data_fp}};
  const int64_t d = out.stats.dim;
  save_safetensors(out.cache_path,
                   {safetensors_blob("features", out.features),
                    safetensors_blob("mu", Tensor::from_vector(out.stats.mean, {d})),
                    safetensors_blob("sigma", Tensor::from_vector(out.stats.cov, {d, d}))},
                   md);
  return out;
}

}  // namespace ddpm::eval
