#include "kernels/global_avg_pool2d.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor global_avg_pool2d(const Tensor& x) {
  Tensor y = kernels::global_avg_pool2d_fwd(x);
  return autograd::record("global_avg_pool2d", y, {x}, [x = x.detach()](const Tensor& g) {
    return std::vector<Tensor>{kernels::global_avg_pool2d_bwd(x, g)};
  });
}

}  // namespace ddpm
