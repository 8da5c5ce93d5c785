#include "nn/module.h"

#include <stdexcept>

#include "tensor/fnv1a.h"
#include "tensor/rng.h"

namespace ddpm::nn {

namespace {

void check_name(const std::string& name, const char* what, const std::vector<NamedTensor>& params,
                const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument(std::string("Module::register_") + what + ": name '" + name +
                                "' must be non-empty and contain no '.'");
  for (const auto& p : params)
    if (p.first == name)
      throw std::invalid_argument(std::string("Module::register_") + what + ": '" + name +
                                  "' is already a parameter of this module");
  for (const auto& c : children)
    if (c.first == name)
      throw std::invalid_argument(std::string("Module::register_") + what + ": '" + name +
                                  "' is already a child module of this module");
}

// Replaces the data behind a parameter handle with `converted` (same shape),
// so every copy of the handle sees it; the old gradient no longer matches.
void replace_data(Tensor& p, const Tensor& converted) {
  TensorImpl* im = p.impl();
  im->storage = converted.impl()->storage;
  im->offset = converted.impl()->offset;
  im->dtype = converted.dtype();
  im->grad = Tensor();
}

}  // namespace

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_name(name, "parameter", params_, children_);
  if (!t.defined()) throw std::invalid_argument("Module::register_parameter: '" + name + "' is undefined");
  if (!t.is_leaf())
    throw std::invalid_argument("Module::register_parameter: '" + name + "' (" + t.desc() +
                                ") has autograd history; register a leaf (detach() it)");
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_name(name, "module", params_, children_);
  if (!m) throw std::invalid_argument("Module::register_module: '" + name + "' is null");
  children_.emplace_back(name, std::move(m));
}

void Module::collect(const std::string& prefix, std::vector<NamedTensor>& out) const {
  for (const auto& [name, t] : params_) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& np : named_parameters()) out.push_back(np.second);
  return out;
}

Tensor Module::parameter(const std::string& full_name) const {
  for (auto& np : named_parameters())
    if (np.first == full_name) return np.second;
  throw std::out_of_range("Module::parameter: no parameter named '" + full_name + "'");
}

void Module::zero_grad() {
  for (auto& p : parameters()) p.zero_grad();
}

void Module::to(DType dtype) {
  for (auto& p : parameters())
    if (p.dtype() != dtype) replace_data(p, p.to(dtype));
}

void Module::to(Device device) {
  for (auto& p : parameters())
    if (p.device() != device) replace_data(p, p.to(device));
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& p : parameters()) n += p.numel();
  return n;
}

void Module::init_parameters(uint64_t seed) { init_tree(seed, ""); }

void Module::init_tree(uint64_t seed, const std::string& prefix) {
  reset_parameters(seed, prefix);
  for (auto& [name, child] : children_) child->init_tree(seed, prefix + name + ".");
}

void Module::reset_parameters(uint64_t, const std::string&) {}

uint64_t parameter_stream(const std::string& full_name) {
  const std::string key = "init/" + full_name;
  return fnv1a(key.data(), key.size());
}

void init_uniform(Tensor& t, double bound, uint64_t seed, const std::string& full_name) {
  fill_uniform(t, -bound, bound, seed, parameter_stream(full_name));
}

}  // namespace ddpm::nn
