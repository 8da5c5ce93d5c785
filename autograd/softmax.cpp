#include "kernels/softmax.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor softmax(const Tensor& x, double scale, const Tensor& mask) {
  Tensor y = kernels::softmax_fwd(x, scale, mask);
  // The mask is a constant: no gradient, and the backward does not need it
  // (y is 0 at excluded entries). The closure keeps y's data, not y.
  return autograd::record("softmax", y, {x}, [y = y.detach(), scale](const Tensor& g) {
    return std::vector<Tensor>{kernels::softmax_bwd(y, g, scale)};
  });
}

}  // namespace ddpm
