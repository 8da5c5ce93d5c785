// FlatParameters: a module's parameters and gradients as views of two flat
// buffers.
//
// flatten() copies every parameter into one contiguous buffer (in
// named_parameters() order) and rebinds each parameter's TensorImpl to its
// slice, so every handle the layers hold now points into the buffer. Each
// parameter's grad is bound to the matching slice of a second buffer; the
// autograd engine accumulates into an existing grad in place, so after
// backward() the flat gradient buffer holds every gradient. Adam, EMA, the
// gradient-norm clip and (later) the data-parallel all-reduce then work on
// one buffer each: one pass, one launch.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"

namespace ddpm::nn {

struct FlatSlice {
  std::string name;
  Shape shape;
  int64_t offset;  // in elements
};

class FlatParameters {
 public:
  FlatParameters() = default;
  // Flattens m's parameters (all of one dtype and device).
  explicit FlatParameters(Module& m);

  Tensor& params() { return params_; }
  Tensor& grads() { return grads_; }
  const Tensor& params() const { return params_; }
  const Tensor& grads() const { return grads_; }
  const std::vector<FlatSlice>& slices() const { return slices_; }
  int64_t numel() const { return params_.numel(); }
  // Zeroes the gradient buffer (the gradients stay bound).
  void zero_grad();
  // A view of `buffer` (any flat tensor of numel()) as the named tensors, in
  // order: how the EMA weights or Adam moments are saved by name.
  std::vector<std::pair<std::string, Tensor>> named_views(const Tensor& buffer) const;

 private:
  Tensor params_, grads_;
  std::vector<FlatSlice> slices_;
};

}  // namespace ddpm::nn
