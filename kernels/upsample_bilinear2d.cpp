#include "kernels/upsample_bilinear2d.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
UpsampleBilinear2dDims dims_of(const Shape& s, const std::string& what, int64_t scale, const char* op) {
  if (s.size() != 4)
    throw std::invalid_argument(std::string(op) + ": x is " + what + ", expected [N, C, H, W]");
  if (scale < 1) throw std::invalid_argument(std::string(op) + ": scale " + std::to_string(scale) + " < 1");
  UpsampleBilinear2dDims d;
  d.planes = s[0] * s[1];
  d.h = s[2];
  d.w = s[3];
  d.oh = d.h * scale;
  d.ow = d.w * scale;
  return d;
}
}  // namespace

Tensor upsample_bilinear2d_fwd(const Tensor& x, int64_t scale) {
  const char* op = "upsample_bilinear2d";
  check_defined(x, op, "x");
  const UpsampleBilinear2dDims d = dims_of(x.shape(), x.desc(), scale, op);
  Tensor y = Tensor::empty({x.size(0), x.size(1), d.oh, d.ow}, x.dtype(), x.device());
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::upsample_bilinear2d_fwd<T>(x.data<T>(), y.data<T>(), d);
      },
      [&](auto) { cuda::upsample_bilinear2d_fwd(x.data<float>(), y.data<float>(), d); });
  return y;
}

Tensor upsample_bilinear2d_bwd(const Tensor& g, const Shape& x_shape, int64_t scale) {
  const char* op = "upsample_bilinear2d backward";
  check_defined(g, op, "grad_out");
  const UpsampleBilinear2dDims d = dims_of(x_shape, shape_str(x_shape), scale, op);
  check_shape(g, {x_shape[0], x_shape[1], d.oh, d.ow}, op, "grad_out");
  Tensor gx = Tensor::empty(x_shape, g.dtype(), g.device());
  on_device(
      op, g,
      [&](auto t) {
        using T = decltype(t);
        cpu::upsample_bilinear2d_bwd<T>(g.data<T>(), gx.data<T>(), d);
      },
      [&](auto) { cuda::upsample_bilinear2d_bwd(g.data<float>(), gx.data<float>(), d); });
  return gx;
}

}  // namespace ddpm::kernels
