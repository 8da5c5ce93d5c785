#include "nn/sequential.h"

#include <string>

#include "nn/group_norm.h"
#include "nn/silu.h"

namespace ddpm::nn {

Sequential::Sequential(std::vector<std::shared_ptr<UnaryModule>> layers) {
  for (auto& l : layers) append(std::move(l));
}

void Sequential::append(std::shared_ptr<UnaryModule> layer) {
  register_module(std::to_string(layers_.size()), layer);
  layers_.push_back(std::move(layer));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    // A GroupNorm followed by a SiLU runs as the fused group_norm_silu: the
    // same function in one pass each way (the layers and their parameter
    // names stay as they are).
    if (auto* norm = dynamic_cast<GroupNorm*>(layers_[i].get());
        norm && i + 1 < layers_.size() && dynamic_cast<SiLU*>(layers_[i + 1].get())) {
      y = norm->forward_silu(y);
      ++i;
      continue;
    }
    y = layers_[i]->forward(y);
  }
  return y;
}

}  // namespace ddpm::nn
