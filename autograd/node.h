// A node of the autograd graph: how to turn the gradient of one op's output
// into gradients of its inputs.
//
// A differentiable function computes its output with a kernel, then calls
// record(): when gradients are on and an input needs them, the output gets a
// Node holding the inputs and a backward closure written right under the
// forward. Closures must not capture the output Tensor itself (that would be a
// reference cycle); save `out.detach()` instead, which shares the data.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::autograd {

// Returns one gradient per input, in order; an undefined Tensor for an input
// that needs none.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string op;              // op name, for error messages
  std::vector<Tensor> inputs;  // the op's inputs, in order
  BackwardFn backward;         // cleared once run: the graph is freed
  bool released = false;
};

// True unless inside a NoGradGuard.
bool grad_enabled();

// Turns graph recording off for its lifetime (sampling, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches a Node to `out` when recording is on and some input requires
// gradients; returns `out`.
Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs, BackwardFn backward);

// True when some input requires gradients and recording is on.
bool needs_grad(const std::vector<Tensor>& inputs);

}  // namespace ddpm::autograd
