#include "kernels/silu.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor silu(const Tensor& x) {
  Tensor y = kernels::silu_fwd(x);
  return autograd::record("silu", y, {x}, [x = x.detach()](const Tensor& g) {
    return std::vector<Tensor>{kernels::silu_bwd(x, g)};
  });
}

}  // namespace ddpm
