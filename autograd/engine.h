// The reverse-mode engine: backward from one tensor through its graph.
//
// Order: a depth-first topological sort of the tensors reachable through
// grad_fn links, visited in reverse, so a node runs only after every use of
// its output has contributed. Gradients of intermediate tensors live in a map
// for the duration of the pass; leaves that require grad accumulate theirs
// (+=) into Tensor::grad(). Each Node's closure (and what it saved) is
// released once run, so a second backward through the same graph fails with a
// clear message instead of reading freed buffers.
#pragma once

#include "tensor/tensor.h"

namespace ddpm::autograd {

// Backward from root with upstream gradient `grad` (root's shape); grad
// undefined: root must have one element and the seed gradient is 1.
void backward(const Tensor& root, const Tensor& grad = Tensor());

}  // namespace ddpm::autograd
