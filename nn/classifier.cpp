#include "nn/classifier.h"

#include <stdexcept>
#include <string>

#include "autograd/functions.h"
#include "nn/conv2d.h"
#include "nn/group_norm.h"
#include "nn/silu.h"

namespace ddpm::nn {

namespace {

constexpr int64_t kGroups = 8;

std::shared_ptr<Sequential> conv_gn_silu(int64_t in_ch, int64_t out_ch) {
  auto s = std::make_shared<Sequential>();
  s->push_back(std::make_shared<Conv2d>(in_ch, out_ch, 3, 1, 1));
  s->push_back(std::make_shared<GroupNorm>(kGroups, out_ch));
  s->push_back(std::make_shared<SiLU>());
  return s;
}

}  // namespace

Classifier::Classifier(int64_t in_channels, int64_t num_classes)
    : in_channels_(in_channels), num_classes_(num_classes) {
  if (in_channels < 1 || num_classes < 2)
    throw std::invalid_argument("Classifier: expected in_channels >= 1 and num_classes >= 2, got " +
                                std::to_string(in_channels) + " and " + std::to_string(num_classes));
  block1_ = register_module("block1", conv_gn_silu(in_channels, 32));
  block2_ = register_module("block2", conv_gn_silu(32, 64));
  block3_ = register_module("block3", conv_gn_silu(64, kClassifierFeatures));
  block4_ = register_module("block4", conv_gn_silu(kClassifierFeatures, kClassifierFeatures));
  head_ = register_module("head", std::make_shared<Linear>(kClassifierFeatures, num_classes));
  init_parameters(0);
}

Tensor Classifier::features(const Tensor& x) {
  if (!x.defined() || x.dim() != 4 || x.size(1) != in_channels_ || x.size(2) < 8 || x.size(3) < 8)
    throw std::invalid_argument("Classifier::features: x must be [N, " + std::to_string(in_channels_) +
                                ", H, W] with H, W >= 8 (three 2x2 poolings), got " +
                                (x.defined() ? x.desc() : std::string("an undefined tensor")));
  const Tensor h1 = max_pool2d(block1_->forward(x), 2);
  const Tensor h2 = max_pool2d(block2_->forward(h1), 2);
  const Tensor h3 = max_pool2d(block3_->forward(h2), 2);
  return global_avg_pool2d(block4_->forward(h3));
}

Tensor Classifier::head(const Tensor& features) {
  if (!features.defined() || features.dim() != 2 || features.size(1) != kClassifierFeatures)
    throw std::invalid_argument("Classifier::head: expected features [N, " +
                                std::to_string(kClassifierFeatures) + "], got " +
                                (features.defined() ? features.desc() : std::string("an undefined tensor")));
  return head_->forward(features);
}

Tensor Classifier::forward(const Tensor& x) { return head(features(x)); }

}  // namespace ddpm::nn
