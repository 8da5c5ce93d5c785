// Global-norm gradient clipping over the flat gradient buffer, as
// torch.nn.utils.clip_grad_norm_: norm = ||g||_2 over every parameter; when
// norm > max_norm, g *= max_norm / (norm + 1e-6). Returns the norm before
// clipping (non-finite when a gradient is, which the trainer checks).
#pragma once

#include "tensor/tensor.h"

namespace ddpm::nn {

double grad_norm(const Tensor& flat_grads);
double clip_grad_norm(Tensor& flat_grads, double max_norm);

}  // namespace ddpm::nn
