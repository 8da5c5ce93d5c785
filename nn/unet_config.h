// The UNet's configuration (nn/unet.h builds the network from it): its sizes,
// the time embedding, the conditioning channels, and its checkpoint-metadata
// form. Apart from the network so that reading a checkpoint's metadata
// (diffusion/model_metadata.h) needs no layers.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ddpm::nn {

enum class TimeEmbedding { linear, sinusoidal };

const char* time_embedding_name(TimeEmbedding e);
// "linear" or "sinusoidal"; throws std::invalid_argument otherwise.
TimeEmbedding parse_time_embedding(const std::string& s);

struct UNetConfig {
  int64_t in_channels = 1;  // Fashion-MNIST; the seed's default was 3
  int64_t base_channels = 64;
  int64_t time_embed_dim = 256;
  TimeEmbedding time_embedding = TimeEmbedding::linear;  // the seed's MLP on t / 1000
  int64_t groups = 8;
  // Class-conditional with this many classes (plus one "no class" index,
  // num_classes itself); 0: unconditional, no class embedding.
  int64_t num_classes = 0;
  // Image-conditional (concatenation): channels of the condition joined to
  // x_t before the first block (the output keeps in_channels); 0: none.
  int64_t cond_channels = 0;

  // Throws std::invalid_argument naming the field: all sizes positive,
  // base_channels divisible by groups, time_embed_dim even and >= 4 for the
  // sinusoidal embedding.
  void validate() const;
  // Keys in_channels, base_channels, time_embed_dim, time_embedding, groups
  // (decimal integers and the embedding's name), and num_classes and
  // cond_channels when they are not 0 (so an unconditional model's keys are
  // those of files written before they existed), for checkpoint metadata.
  std::map<std::string, std::string> to_map() const;
  // Reads those keys (other keys are ignored; num_classes and cond_channels
  // may be missing: 0);
  // throws std::invalid_argument naming a missing key or a malformed value.
  // The result is validated.
  static UNetConfig from_map(const std::map<std::string, std::string>& m);
  bool operator==(const UNetConfig&) const = default;
};

}  // namespace ddpm::nn
