// Embedding: a learned vector per index, y[n] = weight[ids[n]].
//
// weight [num, dim], PyTorch's nn.Embedding default init N(0, 1). The lookup
// is computed as one_hot(ids) [N, num] @ weight: the one-hot rows are built
// on the host (the ids come from the host: data labels, requested classes)
// and copied once, and the gradient is matmul's, so weight's gradient row k
// is the sum of the output gradients of the rows that chose k. At the class
// counts it serves (tens), the product costs less than one UNet convolution.
#pragma once

#include <vector>

#include "nn/module.h"

namespace ddpm::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num, int64_t dim, uint64_t seed = 0);

  // ids [N], each in [0, num); the result [N, dim] has the weight's dtype and
  // device. Throws std::invalid_argument naming the first bad id.
  Tensor forward(const std::vector<int64_t>& ids);

  const Tensor& weight() const { return weight_; }
  int64_t num() const { return num_; }
  int64_t dim() const { return dim_; }

 protected:
  void reset_parameters(uint64_t seed, const std::string& prefix) override;

 private:
  int64_t num_, dim_;
  Tensor weight_;
};

}  // namespace ddpm::nn
