#include "nn/unet_config.h"

#include <cctype>
#include <stdexcept>

namespace ddpm::nn {

namespace {

int64_t parse_int(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw std::invalid_argument("UNetConfig::from_map: missing key '" + key + "'");
  const std::string& s = it->second;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  const bool starts_ok = !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-');
  if (!starts_ok || used != s.size())
    throw std::invalid_argument("UNetConfig::from_map: key '" + key + "' = '" + s +
                                "' is not a decimal integer");
  return static_cast<int64_t>(v);
}

}  // namespace

const char* time_embedding_name(TimeEmbedding e) {
  return e == TimeEmbedding::linear ? "linear" : "sinusoidal";
}

TimeEmbedding parse_time_embedding(const std::string& s) {
  if (s == "linear") return TimeEmbedding::linear;
  if (s == "sinusoidal") return TimeEmbedding::sinusoidal;
  throw std::invalid_argument("time_embedding '" + s + "': expected 'linear' or 'sinusoidal'");
}

void UNetConfig::validate() const {
  auto positive = [](int64_t v, const char* name) {
    if (v <= 0)
      throw std::invalid_argument(std::string("UNetConfig: ") + name + " must be positive, got " +
                                  std::to_string(v));
  };
  positive(in_channels, "in_channels");
  positive(base_channels, "base_channels");
  positive(time_embed_dim, "time_embed_dim");
  positive(groups, "groups");
  if (num_classes < 0 || num_classes > 10000)  // io/data.h kMaxClasses
    throw std::invalid_argument("UNetConfig: num_classes must be in 0..10000 (0: unconditional), got " +
                                std::to_string(num_classes));
  if (cond_channels < 0 || cond_channels > 64)
    throw std::invalid_argument("UNetConfig: cond_channels must be in 0..64 (0: no image condition), got " +
                                std::to_string(cond_channels));
  if (base_channels % groups != 0)
    throw std::invalid_argument("UNetConfig: base_channels " + std::to_string(base_channels) +
                                " must be divisible by groups " + std::to_string(groups) +
                                " (every GroupNorm has a multiple of base_channels channels)");
  if (time_embedding == TimeEmbedding::sinusoidal && (time_embed_dim % 2 != 0 || time_embed_dim < 4))
    throw std::invalid_argument(
        "UNetConfig: the sinusoidal embedding needs an even time_embed_dim >= 4, got " +
        std::to_string(time_embed_dim));
}

std::map<std::string, std::string> UNetConfig::to_map() const {
  std::map<std::string, std::string> m = {{"in_channels", std::to_string(in_channels)},
                                          {"base_channels", std::to_string(base_channels)},
                                          {"time_embed_dim", std::to_string(time_embed_dim)},
                                          {"time_embedding", time_embedding_name(time_embedding)},
                                          {"groups", std::to_string(groups)}};
  if (num_classes != 0) m["num_classes"] = std::to_string(num_classes);
  if (cond_channels != 0) m["cond_channels"] = std::to_string(cond_channels);
  return m;
}

UNetConfig UNetConfig::from_map(const std::map<std::string, std::string>& m) {
  UNetConfig c;
  c.in_channels = parse_int(m, "in_channels");
  c.base_channels = parse_int(m, "base_channels");
  c.time_embed_dim = parse_int(m, "time_embed_dim");
  auto it = m.find("time_embedding");
  if (it == m.end()) throw std::invalid_argument("UNetConfig::from_map: missing key 'time_embedding'");
  c.time_embedding = parse_time_embedding(it->second);
  c.groups = parse_int(m, "groups");
  c.num_classes = m.count("num_classes") ? parse_int(m, "num_classes") : 0;
  c.cond_channels = m.count("cond_channels") ? parse_int(m, "cond_channels") : 0;
  c.validate();
  return c;
}

}  // namespace ddpm::nn
