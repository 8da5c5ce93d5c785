#include "kernels/max_pool2d.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor max_pool2d(const Tensor& x, int64_t kernel) {
  Tensor y = kernels::max_pool2d_fwd(x, kernel);
  return autograd::record("max_pool2d", y, {x}, [x = x.detach(), kernel](const Tensor& g) {
    return std::vector<Tensor>{kernels::max_pool2d_bwd(x, g, kernel)};
  });
}

}  // namespace ddpm
