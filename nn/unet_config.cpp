#include "nn/unet_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>
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

const std::string& need(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw std::invalid_argument("UNetConfig::from_map: missing key '" + key + "'");
  return it->second;
}

double parse_double(const std::map<std::string, std::string>& m, const std::string& key) {
  const std::string& s = need(m, key);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || std::isspace(static_cast<unsigned char>(s[0])))
    throw std::invalid_argument("UNetConfig::from_map: key '" + key + "' = '" + s + "' is not a number");
  return v;
}

std::string format_double(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// The feature-map size of level l at a 32x32 input (attention_resolutions'
// unit).
int64_t nominal_size(int64_t level) { return int64_t{32} >> level; }

}  // namespace

const char* unet_arch_name(UNetArch a) { return a == UNetArch::ddpm ? "ddpm" : "simple"; }

UNetArch parse_unet_arch(const std::string& s) {
  if (s == "simple") return UNetArch::simple;
  if (s == "ddpm") return UNetArch::ddpm;
  throw std::invalid_argument("arch '" + s + "': expected 'simple' or 'ddpm'");
}

std::string format_int_list(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

std::vector<int64_t> parse_int_list(const std::string& s, const std::string& what) {
  std::vector<int64_t> out;
  if (s.empty()) return out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    const std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used, 10);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || !std::isdigit(static_cast<unsigned char>(item[0])) || used != item.size())
      throw std::invalid_argument(what + " '" + s +
                                  "': expected decimal integers separated by commas (e.g. 1,2,2)");
    out.push_back(static_cast<int64_t>(v));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int64_t UNetConfig::levels() const {
  return arch == UNetArch::ddpm ? static_cast<int64_t>(channel_mult.size()) : 4;
}

bool UNetConfig::attention_at(int64_t level) const {
  if (arch != UNetArch::ddpm) return false;
  for (int64_t r : attention_resolutions)
    if (r == nominal_size(level)) return true;
  return false;
}

int64_t UNetConfig::size_multiple() const {
  if (arch != UNetArch::ddpm) return 8;
  return int64_t{1} << (std::max<int64_t>(levels(), 1) - 1);
}

const char* time_embedding_name(TimeEmbedding e) {
  return e == TimeEmbedding::linear ? "linear" : "sinusoidal";
}

TimeEmbedding parse_time_embedding(const std::string& s) {
  if (s == "linear") return TimeEmbedding::linear;
  if (s == "sinusoidal") return TimeEmbedding::sinusoidal;
  throw std::invalid_argument("time_embedding '" + s + "': expected 'linear' or 'sinusoidal'");
}

namespace {

// The checks of arch ddpm (UNetConfig::validate).
void validate_ddpm(const UNetConfig& c) {
  const std::string pre = "UNetConfig (arch ddpm): ";
  if (c.time_embedding != TimeEmbedding::sinusoidal)
    throw std::invalid_argument(
        pre + "time_embedding must be sinusoidal (linear is the simple arch's seed MLP), got " +
        time_embedding_name(c.time_embedding));
  if (c.channel_mult.empty() || c.channel_mult.size() > 6)
    throw std::invalid_argument(pre + "channel_mult must have 1 to 6 entries (one per level), got '" +
                                format_int_list(c.channel_mult) + "'");
  for (int64_t m : c.channel_mult)
    if (m < 1 || m > 16)
      throw std::invalid_argument(pre + "channel_mult entries must be in 1..16, got '" +
                                  format_int_list(c.channel_mult) + "'");
  if (c.num_res_blocks < 1 || c.num_res_blocks > 16)
    throw std::invalid_argument(pre + "num_res_blocks must be in 1..16, got " +
                                std::to_string(c.num_res_blocks));
  if (c.head_channels < 1 || c.head_channels > 4096)
    throw std::invalid_argument(pre + "head_channels must be in 1..4096, got " +
                                std::to_string(c.head_channels));
  std::string sizes;
  for (int64_t l = 0; l < c.levels(); ++l) {
    if (l > 0) sizes += ", ";
    sizes += std::to_string(nominal_size(l));
  }
  for (int64_t r : c.attention_resolutions) {
    bool found = false;
    for (int64_t l = 0; l < c.levels(); ++l) found = found || r == nominal_size(l);
    if (!found)
      throw std::invalid_argument(pre + "attention_resolutions entry " + std::to_string(r) +
                                  " is no level's feature-map size at a 32x32 input (the " +
                                  std::to_string(c.levels()) + " levels of channel_mult '" +
                                  format_int_list(c.channel_mult) + "' have " + sizes + ")");
  }
  auto heads_fit = [&](int64_t channels, const std::string& where) {
    if (channels % c.head_channels != 0)
      throw std::invalid_argument(pre + "head_channels " + std::to_string(c.head_channels) +
                                  " must divide the " + std::to_string(channels) + " channels of " + where);
  };
  for (int64_t l = 0; l < c.levels(); ++l)
    if (c.attention_at(l))
      heads_fit(c.base_channels * c.channel_mult[static_cast<size_t>(l)],
                "level " + std::to_string(l) + " (attention at " + std::to_string(nominal_size(l)) + ")");
  heads_fit(c.base_channels * c.channel_mult.back(), "the middle block (always with attention)");
  const int64_t sinusoid = c.base_channels * c.channel_mult.front();
  if (sinusoid % 2 != 0 || sinusoid < 4)
    throw std::invalid_argument(pre + "the sinusoidal embedding is base_channels x channel_mult[0] = " +
                                std::to_string(sinusoid) + " wide; it must be even and >= 4");
  if (!(c.dropout >= 0 && c.dropout < 1))
    throw std::invalid_argument(pre + "dropout must be in [0, 1), got " + format_double(c.dropout));
  if (c.cross_attention_tokens < 0 || c.cross_attention_tokens > 64)
    throw std::invalid_argument(pre +
                                "cross_attention_tokens must be in 0..64 (0: no cross-attention), got " +
                                std::to_string(c.cross_attention_tokens));
  if (c.cross_attention_tokens > 0 && c.num_classes <= 0)
    throw std::invalid_argument(pre + "cross_attention_tokens " + std::to_string(c.cross_attention_tokens) +
                                " attends to class tokens: it needs a class-conditional model (num_classes > "
                                "0, --conditional class), got num_classes 0");
}

}  // namespace

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
  if (arch == UNetArch::ddpm)
    validate_ddpm(*this);
  else if (cross_attention_tokens != 0)
    throw std::invalid_argument(
        "UNetConfig: cross_attention_tokens applies to arch ddpm (the simple arch has "
        "no attention), got " +
        std::to_string(cross_attention_tokens));
}

std::map<std::string, std::string> UNetConfig::to_map() const {
  std::map<std::string, std::string> m = {{"in_channels", std::to_string(in_channels)},
                                          {"base_channels", std::to_string(base_channels)},
                                          {"time_embed_dim", std::to_string(time_embed_dim)},
                                          {"time_embedding", time_embedding_name(time_embedding)},
                                          {"groups", std::to_string(groups)}};
  if (num_classes != 0) m["num_classes"] = std::to_string(num_classes);
  if (cond_channels != 0) m["cond_channels"] = std::to_string(cond_channels);
  if (arch == UNetArch::ddpm) {
    m["arch"] = unet_arch_name(arch);
    m["channel_mult"] = format_int_list(channel_mult);
    m["num_res_blocks"] = std::to_string(num_res_blocks);
    m["attention_resolutions"] = format_int_list(attention_resolutions);
    m["head_channels"] = std::to_string(head_channels);
    m["dropout"] = format_double(dropout);
    if (cross_attention_tokens != 0) m["cross_attention_tokens"] = std::to_string(cross_attention_tokens);
  }
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
  if (m.count("arch")) {
    try {
      c.arch = parse_unet_arch(m.at("arch"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("UNetConfig::from_map: ") + e.what());
    }
  }
  if (c.arch == UNetArch::ddpm) {
    c.channel_mult = parse_int_list(need(m, "channel_mult"), "UNetConfig::from_map: key 'channel_mult'");
    c.num_res_blocks = parse_int(m, "num_res_blocks");
    c.attention_resolutions =
        parse_int_list(need(m, "attention_resolutions"), "UNetConfig::from_map: key 'attention_resolutions'");
    c.head_channels = parse_int(m, "head_channels");
    c.dropout = parse_double(m, "dropout");
    c.cross_attention_tokens = m.count("cross_attention_tokens") ? parse_int(m, "cross_attention_tokens") : 0;
  }
  c.validate();
  return c;
}

}  // namespace ddpm::nn
