#include "nn/unet.h"

#include <cmath>
#include <stdexcept>
#include <vector>

#include "autograd/functions.h"
#include "nn/group_norm.h"
#include "nn/silu.h"
#include "nn/unet_ddpm.h"

namespace ddpm::nn {

namespace {

std::shared_ptr<Sequential> conv_block(int64_t in_ch, int64_t out_ch, int64_t groups) {
  auto s = std::make_shared<Sequential>();
  s->push_back(std::make_shared<Conv2d>(in_ch, out_ch, 3, 1, 1));
  s->push_back(std::make_shared<GroupNorm>(groups, out_ch));
  s->push_back(std::make_shared<SiLU>());
  s->push_back(std::make_shared<Conv2d>(out_ch, out_ch, 3, 1, 1));
  s->push_back(std::make_shared<GroupNorm>(groups, out_ch));
  s->push_back(std::make_shared<SiLU>());
  return s;
}

}  // namespace

UNet::UNet(const UNetConfig& config, uint64_t seed) : config_(config) {
  config_.validate();
  if (config_.arch == UNetArch::ddpm) {
    ddpm_ = std::make_unique<DdpmUNetBody>(*this, config_);
    class_embedding_ = ddpm_->class_embedding();
    init_parameters(seed);
    return;
  }
  const int64_t b = config_.base_channels, d = config_.time_embed_dim, g = config_.groups;
  const int64_t in = config_.in_channels;

  time_mlp_ = register_module("time_mlp", std::make_shared<Sequential>());
  const int64_t t_in = config_.time_embedding == TimeEmbedding::linear ? 1 : d;
  time_mlp_->push_back(std::make_shared<Linear>(t_in, d));
  time_mlp_->push_back(std::make_shared<SiLU>());
  time_mlp_->push_back(std::make_shared<Linear>(d, d));

  enc1_ = register_module("enc1", conv_block(in + config_.cond_channels, b, g));
  enc2_ = register_module("enc2", conv_block(b, 2 * b, g));
  enc3_ = register_module("enc3", conv_block(2 * b, 4 * b, g));
  bottleneck_ = register_module("bottleneck", conv_block(4 * b, 8 * b, g));
  dec3_ = register_module("dec3", conv_block(8 * b + 4 * b, 4 * b, g));
  dec2_ = register_module("dec2", conv_block(4 * b + 2 * b, 2 * b, g));
  dec1_ = register_module("dec1", conv_block(2 * b + b, b, g));
  final_ = register_module("final", std::make_shared<Conv2d>(b, in, 1));

  auto proj = register_module("time_proj", std::make_shared<Module>());
  proj_enc1_ = proj->register_module("enc1", std::make_shared<Linear>(d, b));
  proj_enc2_ = proj->register_module("enc2", std::make_shared<Linear>(d, 2 * b));
  proj_enc3_ = proj->register_module("enc3", std::make_shared<Linear>(d, 4 * b));
  proj_bottleneck_ = proj->register_module("bottleneck", std::make_shared<Linear>(d, 8 * b));
  proj_dec3_ = proj->register_module("dec3", std::make_shared<Linear>(d, 4 * b));
  proj_dec2_ = proj->register_module("dec2", std::make_shared<Linear>(d, 2 * b));
  proj_dec1_ = proj->register_module("dec1", std::make_shared<Linear>(d, b));
  if (config_.num_classes > 0)
    class_embedding_ =
        register_module("class_embedding", std::make_shared<Embedding>(config_.num_classes + 1, d));

  init_parameters(seed);
}

UNet::~UNet() = default;

void UNet::set_dropout(bool training, uint64_t seed, uint64_t stream, uint64_t draw) {
  if (ddpm_) ddpm_->dropout_draw() = {training, seed, stream, draw};
}

Tensor UNet::sinusoid(const Tensor& t, int64_t width) {
  const Tensor tc = reshape(t, {t.size(0), 1});
  const int64_t half = width / 2;
  if (!freqs_.defined() || freqs_.size(1) != half || freqs_.dtype() != t.dtype() ||
      freqs_.device() != t.device()) {
    std::vector<double> freqs(static_cast<size_t>(half));
    for (int64_t i = 0; i < half; ++i)
      freqs[static_cast<size_t>(i)] =
          std::exp(-std::log(10000.0) * static_cast<double>(i) / static_cast<double>(half - 1));
    freqs_ = Tensor::from_vector(freqs, {1, half}).to(t.dtype()).to(t.device());
  }
  const Tensor args = mul(tc, freqs_);
  return concat({sin(args), cos(args)}, 1);
}

Tensor UNet::embed_time(const Tensor& t) {
  if (t.dim() != 1) throw std::invalid_argument("UNet::embed_time: t must be [N] timesteps, got " + t.desc());
  if (ddpm_) return ddpm_->embed(sinusoid(t, ddpm_->sinusoid_width()));
  if (config_.time_embedding == TimeEmbedding::linear)
    return time_mlp_->forward(
        div(reshape(t, {t.size(0), 1}), Tensor::full({}, 1000.0, t.dtype(), t.device())));
  return time_mlp_->forward(sinusoid(t, config_.time_embed_dim));
}

Tensor UNet::block(const std::shared_ptr<Sequential>& b, const std::shared_ptr<Linear>& proj, const Tensor& h,
                   const Tensor& emb) {
  const Tensor y = b->forward(h);
  return add(y, reshape(proj->forward(emb), {y.size(0), y.size(1), 1, 1}));
}

Tensor UNet::forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels,
                     const Tensor& cond) {
  if (x.dim() != 4 || x.size(1) != config_.in_channels)
    throw std::invalid_argument("UNet::forward: x must be [N, " + std::to_string(config_.in_channels) +
                                ", H, W], got " + x.desc());
  const int64_t m = config_.size_multiple();
  if (x.size(2) % m != 0 || x.size(3) % m != 0 || x.size(2) == 0 || x.size(3) == 0)
    throw std::invalid_argument(
        "UNet::forward: H and W of x must be positive multiples of " + std::to_string(m) +
        (ddpm_ ? " (" + std::to_string(config_.levels() - 1) + " stride-2 downsamplings and upsamplings)"
               : std::string(" (three 2x2 poolings and upsamplings)")) +
        ", got " + x.desc());
  if (t.dim() != 1 || t.size(0) != x.size(0))
    throw std::invalid_argument("UNet::forward: t must be [N] with N = " + std::to_string(x.size(0)) +
                                " (one timestep per image), got " + t.desc());
  if (t.dtype() != x.dtype() || t.device() != x.device())
    throw std::invalid_argument("UNet::forward: t " + t.desc() + " must have the dtype and device of x " +
                                x.desc());

  Tensor emb = embed_time(t);
  Tensor context;  // the class tokens of a ddpm model with cross-attention
  if (class_embedding_) {
    if (!labels.empty() && static_cast<int64_t>(labels.size()) != x.size(0))
      throw std::invalid_argument("UNet::forward: " + std::to_string(labels.size()) + " class labels for " +
                                  std::to_string(x.size(0)) + " images");
    const std::vector<int64_t> ids =
        labels.empty() ? std::vector<int64_t>(static_cast<size_t>(x.size(0)), null_label()) : labels;
    for (size_t i = 0; i < ids.size(); ++i)
      if (ids[i] < 0 || ids[i] > null_label())
        throw std::invalid_argument("UNet::forward: class label " + std::to_string(ids[i]) + " of image " +
                                    std::to_string(i) + " is out of range (expected 0.." +
                                    std::to_string(null_label() - 1) + ", or " +
                                    std::to_string(null_label()) + " for no class)");
    emb = add(emb, class_embedding_->forward(ids));
    if (ddpm_ && ddpm_->cross_attention()) context = ddpm_->tokens(ids);
  } else if (!labels.empty()) {
    throw std::invalid_argument("UNet::forward: class labels given to an unconditional model");
  }
  Tensor input = x;
  if (config_.cond_channels > 0) {
    if (!cond.defined())
      throw std::invalid_argument("UNet::forward: this image-conditional model needs a condition [N, " +
                                  std::to_string(config_.cond_channels) + ", H, W], got none");
    if (cond.dim() != 4 || cond.size(0) != x.size(0) || cond.size(1) != config_.cond_channels ||
        cond.size(2) != x.size(2) || cond.size(3) != x.size(3) || cond.dtype() != x.dtype() ||
        cond.device() != x.device())
      throw std::invalid_argument("UNet::forward: the condition must be [" + std::to_string(x.size(0)) +
                                  ", " + std::to_string(config_.cond_channels) + ", " +
                                  std::to_string(x.size(2)) + ", " + std::to_string(x.size(3)) +
                                  "] with the dtype and device of x " + x.desc() + ", got " + cond.desc());
    input = concat({x, cond}, 1);
  } else if (cond.defined()) {
    throw std::invalid_argument(
        "UNet::forward: a condition image given to a model without image conditioning");
  }
  return ddpm_ ? ddpm_->forward(input, emb, context) : forward_simple(input, emb);
}

Tensor UNet::forward_simple(const Tensor& input, const Tensor& emb) {
  const Tensor e1 = block(enc1_, proj_enc1_, input, emb);
  const Tensor e2 = block(enc2_, proj_enc2_, max_pool2d(e1, 2), emb);
  const Tensor e3 = block(enc3_, proj_enc3_, max_pool2d(e2, 2), emb);
  const Tensor bn = block(bottleneck_, proj_bottleneck_, max_pool2d(e3, 2), emb);
  const Tensor d3 = block(dec3_, proj_dec3_, concat({upsample_bilinear2d(bn, 2), e3}, 1), emb);
  const Tensor d2 = block(dec2_, proj_dec2_, concat({upsample_bilinear2d(d3, 2), e2}, 1), emb);
  const Tensor d1 = block(dec1_, proj_dec1_, concat({upsample_bilinear2d(d2, 2), e1}, 1), emb);
  return final_->forward(d1);
}

}  // namespace ddpm::nn
