#include "kernels/attention.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
AttentionDims attention_dims(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                             const char* op) {
  check_defined(q, op, "q");
  check_defined(k, op, "k");
  check_defined(v, op, "v");
  check_all_like(op, q, {&k, &v});
  const std::string shapes = "q " + q.desc() + ", k " + k.desc() + ", v " + v.desc();
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3)
    throw std::invalid_argument(std::string(op) + ": " + shapes +
                                "; expected q [B, D, Lq], k [B, D, Lk], v [B, E, Lk]");
  if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || k.size(1) != q.size(1) || v.size(2) != k.size(2))
    throw std::invalid_argument(std::string(op) + ": " + shapes +
                                " do not match; expected q [B, D, Lq], k [B, D, Lk], v [B, E, Lk]");
  if (q.size(1) == 0 || v.size(1) == 0 || k.size(2) == 0)
    throw std::invalid_argument(std::string(op) + ": " + shapes + "; D, E and Lk must be at least 1");
  if (!std::isfinite(scale))
    throw std::invalid_argument(std::string(op) + ": scale " + std::to_string(scale) + " is not finite");
  const AttentionDims d{q.size(0), q.size(1), v.size(1), q.size(2), k.size(2), scale};
  if (q.device() == Device::cuda && (d.d > kAttentionCudaMaxHead || d.e > kAttentionCudaMaxHead))
    throw std::invalid_argument(std::string(op) + ": " + shapes + "; the CUDA kernels take D and E up to " +
                                std::to_string(kAttentionCudaMaxHead) + " (use more heads)");
  return d;
}
}  // namespace

Tensor attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, Tensor* lse) {
  const AttentionDims d = attention_dims(q, k, v, scale, "attention");
  Tensor o = Tensor::empty({d.b, d.e, d.lq}, q.dtype(), q.device());
  Tensor l = Tensor::empty({d.b, d.lq}, q.dtype(), q.device());
  if (d.b > 0 && d.lq > 0)
    on_device(
        "attention", q,
        [&](auto t) {
          using T = decltype(t);
          cpu::attention_fwd<T>(q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(), l.data<T>(), d);
        },
        [&](auto) {
          cuda::attention_fwd(q.data<float>(), k.data<float>(), v.data<float>(), o.data<float>(),
                              l.data<float>(), d);
        });
  if (lse) *lse = l;
  return o;
}

void attention_bwd(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const Tensor& lse,
                   double scale, const Tensor& g, Tensor* gq, Tensor* gk, Tensor* gv) {
  const char* op = "attention backward";
  const AttentionDims d = attention_dims(q, k, v, scale, op);
  check_defined(o, op, "o");
  check_defined(lse, op, "lse");
  check_defined(g, op, "grad_out");
  check_all_like(op, q, {&o, &lse, &g});
  check_shape(o, {d.b, d.e, d.lq}, op, "o");
  check_shape(lse, {d.b, d.lq}, op, "lse");
  check_shape(g, {d.b, d.e, d.lq}, op, "grad_out");
  // All three are computed together (they share the recomputed p); the
  // unneeded ones are dropped.
  // Lq == 0: no query touches k or v, their gradients stay zero.
  const bool no_queries = d.lq == 0;
  Tensor q_grad = Tensor::empty(q.shape(), q.dtype(), q.device());
  Tensor k_grad = no_queries ? Tensor::zeros(k.shape(), k.dtype(), k.device())
                             : Tensor::empty(k.shape(), k.dtype(), k.device());
  Tensor v_grad = no_queries ? Tensor::zeros(v.shape(), v.dtype(), v.device())
                             : Tensor::empty(v.shape(), v.dtype(), v.device());
  Tensor delta = Tensor::empty({d.b, d.lq}, q.dtype(), q.device());
  if (d.b > 0 && !no_queries) {
    on_device(
        op, q,
        [&](auto t) {
          using T = decltype(t);
          cpu::attention_bwd<T>(q.data<T>(), k.data<T>(), v.data<T>(), o.data<T>(), lse.data<T>(),
                                g.data<T>(), delta.data<T>(), q_grad.data<T>(), k_grad.data<T>(),
                                v_grad.data<T>(), d);
        },
        [&](auto) {
          cuda::attention_bwd(q.data<float>(), k.data<float>(), v.data<float>(), o.data<float>(),
                              lse.data<float>(), g.data<float>(), delta.data<float>(), q_grad.data<float>(),
                              k_grad.data<float>(), v_grad.data<float>(), d);
        });
  }
  if (gq) *gq = q_grad;
  if (gk) *gk = k_grad;
  if (gv) *gv = v_grad;
}

}  // namespace ddpm::kernels
