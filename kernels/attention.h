// Fused scaled dot-product attention, one head per batch entry b, in the
// engine's channels-first layout (a 1x1 conv's output [N, C, H, W] viewed as
// [N * heads, C / heads, H * W] is q, k or v without a transpose):
//
//   q [B, D, Lq], k [B, D, Lk], v [B, E, Lk]  ->  o [B, E, Lq]
//   s_ij  = scale * sum_d q[d, i] k[d, j]                (per b)
//   lse_i = log sum_j exp(s_ij),  p_ij = exp(s_ij - lse_i)
//   o[e, i] = sum_j p_ij v[e, j]
//
// Backward, from the saved lse [B, Lq] (the Lq x Lk matrix p is recomputed,
// never stored):
//   delta_i = sum_e go[e, i] o[e, i]        (= sum_j p_ij dp_ij)
//   dp_ij   = sum_e go[e, i] v[e, j]
//   ds_ij   = p_ij (dp_ij - delta_i)
//   gq[d, i] = scale sum_j ds_ij k[d, j],  gk[d, j] = scale sum_i ds_ij q[d, i]
//   gv[e, j] = sum_i p_ij go[e, i]
//
// Both backends tile the same way (flash-attention): a block of queries
// against blocks of keys, with the online softmax (running row max m and sum
// l; the accumulated output rescaled by exp(m_old - m_new) when the maximum
// grows), so memory is O(B (D + E) L) at any length.
//   CPU (kernels/cpu/attention.cpp): 64 queries x 128 keys per step, Eigen
//     GEMMs for s and p v^T; threads over (b, query block) forward and over b
//     backward; a fixed order, so results do not depend on the thread count.
//   CUDA (kernels/cuda/attention.cu): one thread per query (forward, gq) or
//     per key (gk, gv), key/query tiles staged in shared memory; FP32
//     throughout; head sizes D, E <= 64.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace ddpm::kernels {

struct AttentionDims {
  int64_t b = 0;   // batch entries (images x heads)
  int64_t d = 0;   // q/k channels per head
  int64_t e = 0;   // v/o channels per head
  int64_t lq = 0;  // queries
  int64_t lk = 0;  // keys (and values)
  double scale = 1;
};

// The largest D and E the CUDA kernels take (registers hold a row).
inline constexpr int64_t kAttentionCudaMaxHead = 64;

// o [B, E, Lq]; *lse (when not null) receives the row log-sum-exps [B, Lq]
// in q's dtype, for the backward.
Tensor attention_fwd(const Tensor& q, const Tensor& k, const Tensor& v, double scale, Tensor* lse);
// Gradients for q, k, v (each pointer may be null when not needed) from the
// forward's o and lse.
void attention_bwd(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const Tensor& lse,
                   double scale, const Tensor& grad_out, Tensor* grad_q, Tensor* grad_k, Tensor* grad_v);

namespace cpu {
template <class T>
void attention_fwd(const T* q, const T* k, const T* v, T* o, T* lse, const AttentionDims& d);
// delta: workspace [B, Lq]. gq, gk, gv: all three written.
template <class T>
void attention_bwd(const T* q, const T* k, const T* v, const T* o, const T* lse, const T* go, T* delta, T* gq,
                   T* gk, T* gv, const AttentionDims& d);
}  // namespace cpu

// kernels/cuda/attention.cu; device pointers, launched on the engine stream.
// D and E must be <= kAttentionCudaMaxHead (the entry points check).
namespace cuda {
void attention_fwd(const float* q, const float* k, const float* v, float* o, float* lse,
                   const AttentionDims& d);
void attention_bwd(const float* q, const float* k, const float* v, const float* o, const float* lse,
                   const float* go, float* delta, float* gq, float* gk, float* gv, const AttentionDims& d);
}  // namespace cuda

}  // namespace ddpm::kernels
