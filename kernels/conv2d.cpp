#include "kernels/conv2d.h"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "kernels/cpu/conv2d_bf16.h"
#include "kernels/dispatch.h"
#include "kernels/math_mode.h"

namespace ddpm::kernels {

namespace {

std::string options_str(int64_t stride, int64_t pad) {
  return "(stride " + std::to_string(stride) + ", padding " + std::to_string(pad) + ")";
}

// The checks that need only shapes; `op` names the caller in messages.
Conv2dDims dims_from_shapes(const Shape& xs, const Shape& ws, int64_t stride, int64_t pad, const char* op) {
  const std::string where = std::string(op) + ": ";
  if (xs.size() != 4)
    throw std::invalid_argument(where + "input " + shape_str(xs) + " is not 4-d [N, Cin, H, W]");
  if (ws.size() != 4)
    throw std::invalid_argument(where + "weight " + shape_str(ws) + " is not 4-d [Cout, Cin, K, K]");
  if (ws[2] != ws[3])
    throw std::invalid_argument(where + "weight " + shape_str(ws) + " is not a square K x K kernel");
  if (ws[0] < 1 || ws[1] < 1 || ws[2] < 1)
    throw std::invalid_argument(where + "weight " + shape_str(ws) + " has an empty dimension");
  if (xs[1] != ws[1])
    throw std::invalid_argument(where + "input " + shape_str(xs) + " has " + std::to_string(xs[1]) +
                                " channels but weight " + shape_str(ws) + " expects " +
                                std::to_string(ws[1]));
  if (stride < 1 || pad < 0)
    throw std::invalid_argument(where + "invalid options " + options_str(stride, pad) +
                                ": stride must be >= 1 and padding >= 0");
  Conv2dDims d{};
  d.N = xs[0];
  d.Cin = xs[1];
  d.H = xs[2];
  d.W = xs[3];
  d.Cout = ws[0];
  d.K = ws[2];
  d.stride = stride;
  d.pad = pad;
  if (d.H + 2 * pad < d.K || d.W + 2 * pad < d.K)
    throw std::invalid_argument(where + "kernel " + shape_str(ws) + " is larger than input " + shape_str(xs) +
                                " padded " + options_str(stride, pad));
  d.Hout = (d.H + 2 * pad - d.K) / stride + 1;
  d.Wout = (d.W + 2 * pad - d.K) / stride + 1;
  return d;
}

Shape out_shape(const Conv2dDims& d) { return {d.N, d.Cout, d.Hout, d.Wout}; }

// The setting (automatic is resolved by the CUDA side's autotuner).
// Called only from the CUDA lambdas (not instantiated in a build without CUDA).
[[maybe_unused]] Conv2dCudaAlgo resolved_cuda_algo() { return conv2d_cuda_algo(); }

}  // namespace

Conv2dDims conv2d_dims(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad) {
  check_defined(x, "conv2d", "input");
  check_defined(w, "conv2d", "weight");
  check_all_like("conv2d", x, {&w, &b});
  const Conv2dDims d = dims_from_shapes(x.shape(), w.shape(), stride, pad, "conv2d");
  if (b.defined() && b.shape() != Shape{d.Cout})
    throw std::invalid_argument("conv2d: bias " + b.desc() + " does not match weight " + w.desc() +
                                ", expected shape [" + std::to_string(d.Cout) + "]");
  return d;
}

namespace {

// y[n, c, :] += add[n, c]: the CPU's per-(image, channel) add, after the
// convolution (the same float additions as a broadcast add of add[:, :, None, None]).
template <class T>
void add_per_plane(T* y, const T* add, int64_t planes, int64_t hw) {
  for (int64_t p = 0; p < planes; ++p) {
    const T a = add[p];
    T* row = y + p * hw;
    for (int64_t i = 0; i < hw; ++i) row[i] += a;
  }
}

}  // namespace

Tensor conv2d_fwd(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad,
                  const Tensor& add) {
  const Conv2dDims d = conv2d_dims(x, w, b, stride, pad);
  if (add.defined()) {
    check_all_like("conv2d", x, {&add});
    if (add.shape() != Shape{d.N, d.Cout})
      throw std::invalid_argument(
          "conv2d: the per-channel add " + add.desc() + " does not match output [" + std::to_string(d.N) +
          ", " + std::to_string(d.Cout) + ", " + std::to_string(d.Hout) + ", " + std::to_string(d.Wout) +
          "], expected shape [" + std::to_string(d.N) + ", " + std::to_string(d.Cout) + "]");
  }
  Tensor y = Tensor::empty(out_shape(d), x.dtype(), x.device());
  on_device(
      "conv2d", x,
      [&](auto t) {
        using T = decltype(t);
        bool done = false;
        if constexpr (std::is_same_v<T, float>)
          if (math_mode() == MathMode::bf16) {
            cpu::conv2d_fwd_bf16(x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>(),
                                 d);
            done = true;
          }
        if (!done)
          cpu::conv2d_fwd<T>(x.data<T>(), w.data<T>(), b.defined() ? b.data<T>() : nullptr, y.data<T>(), d);
        if (add.defined()) add_per_plane(y.data<T>(), add.data<T>(), d.N * d.Cout, d.Hout * d.Wout);
      },
      [&](auto) {
        cuda::conv2d_fwd(x.data<float>(), w.data<float>(), b.defined() ? b.data<float>() : nullptr,
                         y.data<float>(), d, resolved_cuda_algo(),
                         add.defined() ? add.data<float>() : nullptr);
      });
  return y;
}

Tensor conv2d_bwd_data(const Tensor& grad_out, const Tensor& w, const Shape& x_shape, int64_t stride,
                       int64_t pad) {
  const char* op = "conv2d backward-data";
  check_defined(grad_out, op, "grad_out");
  check_defined(w, op, "weight");
  check_same_dtype_device(grad_out, w, op);
  const Conv2dDims d = dims_from_shapes(x_shape, w.shape(), stride, pad, op);
  check_shape(grad_out, out_shape(d), op, "grad_out");
  Tensor gx = Tensor::empty(x_shape, w.dtype(), w.device());
  on_device(
      op, w,
      [&](auto t) {
        using T = decltype(t);
        if constexpr (std::is_same_v<T, float>)
          if (math_mode() == MathMode::bf16)
            return cpu::conv2d_bwd_data_bf16(grad_out.data<T>(), w.data<T>(), gx.data<T>(), d);
        cpu::conv2d_bwd_data<T>(grad_out.data<T>(), w.data<T>(), gx.data<T>(), d);
      },
      [&](auto) {
        cuda::conv2d_bwd_data(grad_out.data<float>(), w.data<float>(), gx.data<float>(), d,
                              resolved_cuda_algo());
      });
  return gx;
}

Tensor conv2d_bwd_weight(const Tensor& x, const Tensor& grad_out, const Shape& w_shape, int64_t stride,
                         int64_t pad, Tensor* grad_bias) {
  const char* op = "conv2d backward-weight";
  check_defined(x, op, "input");
  check_defined(grad_out, op, "grad_out");
  check_same_dtype_device(x, grad_out, op);
  const Conv2dDims d = dims_from_shapes(x.shape(), w_shape, stride, pad, op);
  check_shape(grad_out, out_shape(d), op, "grad_out");
  Tensor gw = Tensor::empty(w_shape, x.dtype(), x.device());
  if (grad_bias) *grad_bias = Tensor::empty({d.Cout}, x.dtype(), x.device());
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        T* gb = grad_bias ? grad_bias->data<T>() : nullptr;
        if constexpr (std::is_same_v<T, float>)
          if (math_mode() == MathMode::bf16)
            return cpu::conv2d_bwd_weight_bf16(x.data<T>(), grad_out.data<T>(), gw.data<T>(), gb, d);
        cpu::conv2d_bwd_weight<T>(x.data<T>(), grad_out.data<T>(), gw.data<T>(), gb, d);
      },
      [&](auto) {
        cuda::conv2d_bwd_weight(x.data<float>(), grad_out.data<float>(), gw.data<float>(),
                                grad_bias ? grad_bias->data<float>() : nullptr, d, resolved_cuda_algo());
      });
  return gw;
}

}  // namespace ddpm::kernels
