#include "kernels/dropout.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor dropout(const Tensor& x, double p, uint64_t seed, uint64_t stream, uint64_t offset) {
  Tensor y = kernels::dropout_fwd(x, p, seed, stream, offset);
  // No mask saved: the backward draws it again from the same counters.
  return autograd::record("dropout", y, {x}, [p, seed, stream, offset](const Tensor& g) {
    return std::vector<Tensor>{kernels::dropout_bwd(g, p, seed, stream, offset)};
  });
}

}  // namespace ddpm
