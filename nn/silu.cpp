#include "nn/silu.h"

#include "autograd/functions.h"

namespace ddpm::nn {

Tensor SiLU::forward(const Tensor& x) { return silu(x); }

}  // namespace ddpm::nn
