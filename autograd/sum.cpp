#include "kernels/sum.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor sum(const Tensor& x) {
  Tensor s = kernels::sum_fwd(x);
  return autograd::record("sum", s, {x}, [shape = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{kernels::sum_bwd(g, shape)};
  });
}

Tensor mean(const Tensor& x) {
  Tensor m = kernels::mean_fwd(x);
  const double scale = 1.0 / static_cast<double>(x.numel());
  return autograd::record("mean", m, {x}, [shape = x.shape(), scale](const Tensor& g) {
    return std::vector<Tensor>{kernels::sum_bwd(g, shape, scale)};
  });
}

}  // namespace ddpm
