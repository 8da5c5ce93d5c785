#include "kernels/upsample_bilinear2d.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor upsample_bilinear2d(const Tensor& x, int64_t scale) {
  Tensor y = kernels::upsample_bilinear2d_fwd(x, scale);
  return autograd::record("upsample_bilinear2d", y, {x}, [shape = x.shape(), scale](const Tensor& g) {
    return std::vector<Tensor>{kernels::upsample_bilinear2d_bwd(g, shape, scale)};
  });
}

}  // namespace ddpm
