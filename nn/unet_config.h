// The UNet's configuration (nn/unet.h builds the network from it): its
// layout (arch), sizes, the time embedding, the conditioning channels, and
// its checkpoint-metadata form. Apart from the network so that reading a
// checkpoint's metadata (diffusion/model_metadata.h) needs no layers.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ddpm::nn {

enum class TimeEmbedding { linear, sinusoidal };

const char* time_embedding_name(TimeEmbedding e);
// "linear" or "sinusoidal"; throws std::invalid_argument otherwise.
TimeEmbedding parse_time_embedding(const std::string& s);

// The network's layout: simple, the seed's SimpleUNet (three conv blocks
// each way, nn/unet.h), or ddpm, the DDPM paper's / diffusers' UNet2DModel
// layout (ResBlocks, self-attention, channel multipliers; nn/unet_ddpm.h).
enum class UNetArch { simple, ddpm };

const char* unet_arch_name(UNetArch a);
// "simple" or "ddpm"; throws std::invalid_argument otherwise.
UNetArch parse_unet_arch(const std::string& s);

struct UNetConfig {
  int64_t in_channels = 1;  // Fashion-MNIST; the seed's default was 3
  int64_t base_channels = 64;
  // simple: the width of the time MLP. ddpm: the width of the time
  // embedding (diffusers' time_embedding_dim; ddpm-train makes it
  // 4 x base_channels unless told).
  int64_t time_embed_dim = 256;
  TimeEmbedding time_embedding = TimeEmbedding::linear;  // the seed's MLP on t / 1000; ddpm: sinusoidal only
  int64_t groups = 8;
  // Class-conditional with this many classes (plus one "no class" index,
  // num_classes itself); 0: unconditional, no class embedding.
  int64_t num_classes = 0;
  // Image-conditional (concatenation): channels of the condition joined to
  // x_t before the first block (the output keeps in_channels); 0: none.
  int64_t cond_channels = 0;

  UNetArch arch = UNetArch::simple;
  // ---- arch ddpm only (ignored, and not written, for simple) ----
  // Level l (0-based) has base_channels * channel_mult[l] channels at
  // H / 2^l x W / 2^l; 1 to 6 levels.
  std::vector<int64_t> channel_mult = {1, 2, 2};
  // ResBlocks per level on the way down (num_res_blocks + 1 on the way up).
  int64_t num_res_blocks = 2;
  // Where self-attention goes, as feature-map sizes of a 32x32 input: level
  // l has attention when 32 / 2^l is listed. The list is thus a set of
  // downsampling factors (32 / r): for an H x W input the same levels get
  // attention, at H / 2^l x W / 2^l (16,8 means the 2nd and 3rd levels:
  // 16x16 and 8x8 for 32x32 inputs, 32x32 and 16x16 for 64x64 ones). The
  // middle block always has attention. May be empty.
  std::vector<int64_t> attention_resolutions = {16, 8};
  // Channels per attention head (diffusers' attention_head_dim): heads =
  // channels / head_channels at each attention level.
  int64_t head_channels = 32;
  // Dropout in the ResBlocks (after the second SiLU), in [0, 1); training
  // forwards only (nn/resblock.h, UNet::set_dropout).
  double dropout = 0;
  // Cross-attention to class tokens (0: off): a class-conditional model
  // (num_classes > 0) embeds each label as this many tokens of
  // time_embed_dim channels (class_tokens), and every attention block
  // attends to them after its self-attention (nn/attention_block.h). At most
  // 64.
  int64_t cross_attention_tokens = 0;

  // Throws std::invalid_argument naming the field: all sizes positive,
  // base_channels divisible by groups, time_embed_dim even and >= 4 for the
  // sinusoidal embedding; for ddpm also channel_mult (1..6 entries, each
  // 1..16), num_res_blocks (1..16), attention_resolutions (each 32 / 2^l of
  // an existing level), head_channels (dividing every attention level's
  // channels and the middle block's), dropout (in [0, 1)), the sinusoidal
  // time embedding, cross_attention_tokens (0..64; > 0 only with
  // num_classes > 0). A simple model must have cross_attention_tokens 0.
  void validate() const;
  // Keys in_channels, base_channels, time_embed_dim, time_embedding, groups
  // (decimal integers and the embedding's name), and num_classes and
  // cond_channels when they are not 0 (so an unconditional model's keys are
  // those of files written before they existed), for checkpoint metadata.
  // arch=ddpm adds arch, channel_mult and attention_resolutions (decimal
  // integers joined by commas, "" for none), num_res_blocks, head_channels
  // and dropout, and cross_attention_tokens when it is not 0 (so files
  // without cross-attention are those written before it existed); a simple
  // model writes none of them (its files are those written before arch
  // existed).
  std::map<std::string, std::string> to_map() const;
  // Reads those keys (other keys are ignored; num_classes and cond_channels
  // may be missing: 0; arch may be missing: simple, whose ddpm keys are
  // ignored; a ddpm map needs all of them but cross_attention_tokens, which
  // may be missing: 0);
  // throws std::invalid_argument naming a missing key or a malformed value.
  // The result is validated.
  static UNetConfig from_map(const std::map<std::string, std::string>& m);
  bool operator==(const UNetConfig&) const = default;

  // ddpm: the number of levels (channel_mult's size); simple: 4.
  int64_t levels() const;
  // ddpm: whether level l has self-attention (attention_resolutions).
  bool attention_at(int64_t level) const;
  // What H and W must be multiples of: simple 8 (three poolings), ddpm
  // 2^(levels - 1) (one stride-2 convolution between levels).
  int64_t size_multiple() const;
};

// "1,2,2" for {1, 2, 2}, "" for {}.
std::string format_int_list(const std::vector<int64_t>& v);
// Decimal integers joined by commas ("" is the empty list); throws
// std::invalid_argument naming `what` and the text when malformed.
std::vector<int64_t> parse_int_list(const std::string& s, const std::string& what);

}  // namespace ddpm::nn
