#include "kernels/conv2d.h"

#include "autograd/functions.h"
#include "autograd/node.h"
#include "kernels/binary.h"

namespace ddpm {

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
              const Tensor& add) {
  Tensor y = kernels::conv2d_fwd(x, weight, bias, stride, padding, add);
  const bool gx = x.requires_grad();
  const bool gb = bias.defined() && bias.requires_grad();
  const bool ga = add.defined() && add.requires_grad();
  // The bias gradient comes out of the weight-gradient kernel, which needs x.
  const bool gw = weight.requires_grad() || gb;
  return autograd::record(
      "conv2d", y, {x, weight, bias, add},
      [x = gw ? x.detach() : Tensor(), x_shape = x.shape(), w = weight.detach(), stride, padding, gx, gw, gb,
       ga, add_shape = add.defined() ? add.shape() : Shape{}](const Tensor& g) {
        std::vector<Tensor> grads(4);
        if (gx) grads[0] = kernels::conv2d_bwd_data(g, w, x_shape, stride, padding);
        if (gw)
          grads[1] = kernels::conv2d_bwd_weight(x, g, w.shape(), stride, padding, gb ? &grads[2] : nullptr);
        // d add[n, c] = sum over the plane of g[n, c]: the broadcast add's reduction.
        if (ga) grads[3] = kernels::sum_to(g, {g.size(0), g.size(1), 1, 1}).view(add_shape);
        return grads;
      });
}

}  // namespace ddpm
