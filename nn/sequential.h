// Sequential: single-input modules applied in order; child i is named "i",
// as in PyTorch's nn.Sequential (so parameters read "0.weight", "3.bias").
// A GroupNorm directly followed by a SiLU is run as one fused op
// (GroupNorm::forward_silu).
#pragma once

#include <memory>
#include <vector>

#include "nn/module.h"

namespace ddpm::nn {

class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<UnaryModule>> layers);

  // Appends a layer named after its position; returns it.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> layer) {
    append(layer);
    return layer;
  }

  Tensor forward(const Tensor& x) override;

  size_t size() const { return layers_.size(); }
  const std::shared_ptr<UnaryModule>& operator[](size_t i) const { return layers_.at(i); }

 private:
  void append(std::shared_ptr<UnaryModule> layer);
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

}  // namespace ddpm::nn
