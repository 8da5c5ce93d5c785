#include "kernels/concat.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  Tensor out = kernels::concat_fwd(xs, dim);
  std::vector<Shape> shapes;
  std::vector<bool> need;
  for (const Tensor& x : xs) {
    shapes.push_back(x.shape());
    need.push_back(x.requires_grad());
  }
  return autograd::record("concat", out, xs,
                          [shapes = std::move(shapes), need = std::move(need), dim](const Tensor& g) {
                            return kernels::concat_bwd(g, shapes, dim, need);
                          });
}

}  // namespace ddpm
