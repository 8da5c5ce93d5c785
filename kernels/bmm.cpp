#include "kernels/bmm.h"

#include <stdexcept>
#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {

std::string layout(bool trans_a, bool trans_b) {
  return std::string("expected ") + (trans_a ? "a [B, K, M]" : "a [B, M, K]") + " x " +
         (trans_b ? "b [B, N, K]" : "b [B, K, N]");
}

BmmDims bmm_dims(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const char* op) {
  check_defined(a, op, "a");
  check_defined(b, op, "b");
  check_same_dtype_device(a, b, op);
  const std::string flags = std::string(" (trans_a ") + (trans_a ? "true" : "false") + ", trans_b " +
                            (trans_b ? "true" : "false") + "; " + layout(trans_a, trans_b) + ")";
  if (a.dim() != 3 || b.dim() != 3)
    throw std::invalid_argument(std::string(op) + ": operands " + a.desc() + " and " + b.desc() +
                                " must both be 3-d" + flags);
  if (a.size(0) != b.size(0))
    throw std::invalid_argument(std::string(op) + ": batch sizes differ: " + a.desc() + " x " + b.desc() +
                                flags);
  const int64_t M = trans_a ? a.size(2) : a.size(1), Ka = trans_a ? a.size(1) : a.size(2);
  const int64_t Kb = trans_b ? b.size(2) : b.size(1), N = trans_b ? b.size(1) : b.size(2);
  if (Ka != Kb)
    throw std::invalid_argument(std::string(op) + ": inner dimensions differ: " + a.desc() + " x " +
                                b.desc() + flags);
  return {a.size(0), M, Ka, N, trans_a, trans_b};
}

// C = op(x) op(y) for the stored operands x, y, written into c (shape set by the caller).
void run_bmm(const char* op, const Tensor& x, const Tensor& y, Tensor& c, const BmmDims& d) {
  on_device(
      op, x,
      [&](auto t) {
        using T = decltype(t);
        cpu::bmm_fwd<T>(x.data<T>(), y.data<T>(), c.data<T>(), d);
      },
      [&](auto) { cuda::bmm_fwd(x.data<float>(), y.data<float>(), c.data<float>(), d); });
}

}  // namespace

Tensor bmm_fwd(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const BmmDims d = bmm_dims(a, b, trans_a, trans_b, "bmm");
  Tensor c = Tensor::empty({d.batch, d.M, d.N}, a.dtype(), a.device());
  if (c.numel() > 0) run_bmm("bmm", a, b, c, d);
  return c;
}

void bmm_bwd(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, const Tensor& g, Tensor* ga,
             Tensor* gb) {
  const char* op = "bmm backward";
  const BmmDims d = bmm_dims(a, b, trans_a, trans_b, op);
  check_defined(g, op, "grad_out");
  check_same_dtype_device(a, g, op);
  check_shape(g, {d.batch, d.M, d.N}, op, "grad_out");
  if (ga) {
    *ga = Tensor::empty(a.shape(), a.dtype(), a.device());
    // gA [M, K] = gC op_b(B)^T; stored [K, M] when trans_a: op_b(B) gC^T.
    const BmmDims da = trans_a ? BmmDims{d.batch, d.K, d.N, d.M, trans_b, true}
                               : BmmDims{d.batch, d.M, d.N, d.K, false, !trans_b};
    if (ga->numel() > 0) run_bmm(op, trans_a ? b : g, trans_a ? g : b, *ga, da);
  }
  if (gb) {
    *gb = Tensor::empty(b.shape(), b.dtype(), b.device());
    // gB [K, N] = op_a(A)^T gC; stored [N, K] when trans_b: gC^T op_a(A).
    const BmmDims db = trans_b ? BmmDims{d.batch, d.N, d.M, d.K, true, trans_a}
                               : BmmDims{d.batch, d.K, d.M, d.N, !trans_a, false};
    if (gb->numel() > 0) run_bmm(op, trans_b ? g : a, trans_b ? a : g, *gb, db);
  }
}

}  // namespace ddpm::kernels
