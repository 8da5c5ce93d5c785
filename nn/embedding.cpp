#include "nn/embedding.h"

#include <stdexcept>
#include <string>

#include "autograd/functions.h"
#include "tensor/rng.h"

namespace ddpm::nn {

Embedding::Embedding(int64_t num, int64_t dim, uint64_t seed) : num_(num), dim_(dim) {
  if (num_ <= 0 || dim_ <= 0)
    throw std::invalid_argument("Embedding: need positive sizes, got num " + std::to_string(num_) + ", dim " +
                                std::to_string(dim_));
  weight_ = register_parameter("weight", Tensor::empty({num_, dim_}));
  reset_parameters(seed, "");
}

void Embedding::reset_parameters(uint64_t seed, const std::string& prefix) {
  fill_normal(weight_, seed, parameter_stream(prefix + "weight"));
}

Tensor Embedding::forward(const std::vector<int64_t>& ids) {
  const int64_t n = static_cast<int64_t>(ids.size());
  if (n == 0) throw std::invalid_argument("Embedding::forward: no ids");
  std::vector<float> one_hot(static_cast<size_t>(n * num_), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t k = ids[static_cast<size_t>(i)];
    if (k < 0 || k >= num_)
      throw std::invalid_argument("Embedding::forward: id " + std::to_string(k) + " at position " +
                                  std::to_string(i) + " is out of range (expected 0.." +
                                  std::to_string(num_ - 1) + ")");
    one_hot[static_cast<size_t>(i * num_ + k)] = 1.0f;
  }
  Tensor oh = Tensor::from_vector(one_hot, {n, num_});
  if (weight_.dtype() != DType::f32) oh = oh.to(weight_.dtype());
  if (weight_.device() != Device::cpu) oh = oh.to(weight_.device());
  return matmul(oh, weight_);
}

}  // namespace ddpm::nn
