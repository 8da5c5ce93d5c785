// SiLU layer: y = x * sigmoid(x), no parameters.
#pragma once

#include "nn/module.h"

namespace ddpm::nn {

class SiLU : public UnaryModule {
 public:
  Tensor forward(const Tensor& x) override;
};

}  // namespace ddpm::nn
