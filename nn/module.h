// Module: a tree of named parameters and named child modules.
//
// Names follow PyTorch's state_dict for the same module tree: a parameter
// registered as "weight" on the child registered as "0" of the child "enc1" is
// "enc1.0.weight". named_parameters() lists them in PyTorch's order: a
// module's own parameters in registration order, then each child's, depth
// first, children in registration order. Checkpoints (safetensors) and the
// PyTorch reference tests rely on these names.
//
// A parameter is a leaf Tensor with requires_grad set. Layers keep copies of
// their parameter handles; to(dtype) / to(device) therefore convert each
// parameter inside its existing TensorImpl (new storage, same handle), so
// every copy of the handle sees the converted tensor.
//
// Initialisation is deterministic: init_parameters(seed) visits the tree and
// each layer fills its parameters from the Philox generator with
// (seed, stream = parameter_stream(full name)), so a parameter's values depend
// only on the seed, its name and its shape, never on construction order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::nn {

using NamedTensor = std::pair<std::string, Tensor>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Adds a parameter (made a leaf that requires grad) under `name` (no dots,
  // not empty, unique within this module); returns the stored handle.
  Tensor register_parameter(const std::string& name, Tensor t);
  // Adds a child module under `name` (no dots, not empty, unique).
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

  // Full names ("enc1.0.weight") and handles, in PyTorch's state_dict order.
  std::vector<NamedTensor> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // The parameter with this full name; throws std::out_of_range naming it.
  Tensor parameter(const std::string& full_name) const;
  // This module's direct children, in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

  // Clears every parameter's accumulated gradient.
  void zero_grad();
  // Converts every parameter in place of its handle (names kept, gradients
  // dropped).
  void to(DType dtype);
  void to(Device device);
  // Total number of parameter elements.
  int64_t num_parameters() const;

  // Re-draws every parameter of the tree from (seed, parameter_stream(name)).
  void init_parameters(uint64_t seed);

 protected:
  // Fills this module's own parameters (not the children's); `prefix` is the
  // module's full name with a trailing dot ("" at the root). Layers with
  // parameters override it; the default draws nothing.
  virtual void reset_parameters(uint64_t seed, const std::string& prefix);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void collect(const std::string& prefix, std::vector<NamedTensor>& out) const;
  void init_tree(uint64_t seed, const std::string& prefix);

  std::vector<NamedTensor> params_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// A module with one input and one output: what Sequential chains.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

// The Philox stream of the parameter with this full name: a 64-bit FNV-1a
// hash of "init/" + name (a domain of its own, apart from the small stream
// numbers used for noise, timesteps and data order).
uint64_t parameter_stream(const std::string& full_name);

// Fills t uniformly on (-bound, bound) from (seed, parameter_stream(name)):
// PyTorch's default for Conv2d and Linear weights and biases.
void init_uniform(Tensor& t, double bound, uint64_t seed, const std::string& full_name);

}  // namespace ddpm::nn
