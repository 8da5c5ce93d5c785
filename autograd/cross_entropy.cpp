#include "kernels/cross_entropy.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor cross_entropy(const Tensor& logits, const Tensor& labels) {
  Tensor loss = kernels::cross_entropy_fwd(logits, labels);
  return autograd::record("cross_entropy", loss, {logits, labels},
                          [z = logits.detach(), y = labels.detach()](const Tensor& g) {
                            return std::vector<Tensor>{kernels::cross_entropy_bwd(z, y, g), Tensor()};
                          });
}

}  // namespace ddpm
