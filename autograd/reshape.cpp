#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor out = x.view(shape);
  return autograd::record("reshape", out, {x}, [in_shape = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{g.view(in_shape)};
  });
}

}  // namespace ddpm
