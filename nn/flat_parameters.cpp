#include "nn/flat_parameters.h"

#include <stdexcept>

#include "tensor/allocator.h"

namespace ddpm::nn {

namespace {
// A tensor of `shape` over `buffer`'s storage starting `offset` elements in.
Tensor slice_view(const Tensor& buffer, int64_t offset, const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = buffer.impl()->storage;
  impl->offset = buffer.impl()->offset + offset;
  impl->shape = shape;
  impl->dtype = buffer.dtype();
  return Tensor(std::move(impl));
}
}  // namespace

FlatParameters::FlatParameters(Module& m) {
  const std::vector<NamedTensor> named = m.named_parameters();
  if (named.empty()) throw std::invalid_argument("FlatParameters: the module has no parameters");
  const DType dtype = named.front().second.dtype();
  const Device device = named.front().second.device();
  int64_t total = 0;
  for (const auto& [name, p] : named) {
    if (p.dtype() != dtype || p.device() != device)
      throw std::invalid_argument("FlatParameters: parameter " + name + " is " + p.desc() +
                                  ", the first one is " + named.front().second.desc());
    slices_.push_back({name, p.shape(), total});
    total += p.numel();
  }
  params_ = Tensor::empty({total}, dtype, device);
  grads_ = Tensor::zeros({total}, dtype, device);
  for (size_t i = 0; i < named.size(); ++i) {
    const Tensor& p = named[i].second;
    Tensor view = slice_view(params_, slices_[i].offset, p.shape());
    device_copy(view.raw_data(), device, p.raw_data(), device, p.nbytes());
    TensorImpl* im = p.impl();
    im->storage = params_.impl()->storage;
    im->offset = view.impl()->offset;
    im->grad = slice_view(grads_, slices_[i].offset, p.shape());
  }
}

void FlatParameters::zero_grad() { grads_.fill_(0.0); }

std::vector<std::pair<std::string, Tensor>> FlatParameters::named_views(const Tensor& buffer) const {
  if (buffer.numel() != params_.numel())
    throw std::invalid_argument("FlatParameters::named_views: buffer " + buffer.desc() + " for " +
                                std::to_string(params_.numel()) + " parameters");
  std::vector<std::pair<std::string, Tensor>> out;
  for (const FlatSlice& s : slices_) out.emplace_back(s.name, slice_view(buffer, s.offset, s.shape));
  return out;
}

}  // namespace ddpm::nn
