// CPU attention (kernels/attention.h): query blocks of kBq against key blocks
// of kBk with the online softmax; s = scale q_i^T k_j and p v^T are Eigen
// GEMMs on the blocks (column ranges of the row-major [D, L] maps), the
// exponentials a vectorisable loop (fast_exp for float). Forward tasks are
// (b, query block), backward tasks are b (the key gradients of one b are
// summed over its query blocks in order), so no two threads write one output
// and the order of every sum is fixed.
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/gemm.h"  // first: see the note on GCC 12 there
#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {

constexpr int64_t kBq = 64;   // queries per block
constexpr int64_t kBk = 128;  // keys per block

// exp(x) for x <= ~0 (a score minus its row maximum or log-sum-exp).
inline float exp_nonpos(float x) { return fast_exp(std::max(x, -87.0f)); }
inline double exp_nonpos(double x) { return std::exp(x); }

template <class T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

}  // namespace

template <class T>
void attention_fwd(const T* q, const T* k, const T* v, T* o, T* lse, const AttentionDims& d) {
  const int64_t nqb = (d.lq + kBq - 1) / kBq;
  const T scale = static_cast<T>(d.scale);
  parallel_for(d.b * nqb, kBq * d.lk * (d.d + d.e) * 2, [&](int64_t task) {
    const int64_t b = task / nqb, i0 = task % nqb * kBq, bq = std::min(kBq, d.lq - i0);
    const auto Q = ConstMatrixMap<T>(q + b * d.d * d.lq, d.d, d.lq).middleCols(i0, bq);  // [D, bq]
    const ConstMatrixMap<T> K(k + b * d.d * d.lk, d.d, d.lk);
    const ConstMatrixMap<T> V(v + b * d.e * d.lk, d.e, d.lk);
    RowMatrix<T> s(bq, std::min(kBk, d.lk));
    RowMatrix<T> acc = RowMatrix<T>::Zero(bq, d.e);  // unnormalised o^T of the block
    Vec<T> m = Vec<T>::Constant(bq, -std::numeric_limits<T>::infinity());
    Vec<T> l = Vec<T>::Zero(bq);
    for (int64_t j0 = 0; j0 < d.lk; j0 += kBk) {
      const int64_t bk = std::min(kBk, d.lk - j0);
      auto sb = s.leftCols(bk);
      sb.noalias() = scale * (Q.transpose() * K.middleCols(j0, bk));
      for (int64_t r = 0; r < bq; ++r) {
        T* row = &sb(r, 0);
        T mx = m[r];
        for (int64_t j = 0; j < bk; ++j) mx = std::max(mx, row[j]);
        // The first block: m = -inf, alpha = 0 (acc and l are still 0).
        const T alpha = m[r] == -std::numeric_limits<T>::infinity() ? T(0) : exp_nonpos(m[r] - mx);
        T sum = 0;
        for (int64_t j = 0; j < bk; ++j) {
          row[j] = exp_nonpos(row[j] - mx);
          sum += row[j];
        }
        l[r] = l[r] * alpha + sum;
        if (alpha != T(1)) acc.row(r) *= alpha;
        m[r] = mx;
      }
      acc.noalias() += sb * V.middleCols(j0, bk).transpose();
    }
    auto O = MatrixMap<T>(o + b * d.e * d.lq, d.e, d.lq).middleCols(i0, bq);
    for (int64_t r = 0; r < bq; ++r) {
      const T inv = T(1) / l[r];
      for (int64_t e = 0; e < d.e; ++e) O(e, r) = acc(r, e) * inv;
      lse[b * d.lq + i0 + r] = m[r] + std::log(l[r]);
    }
  });
}

template <class T>
void attention_bwd(const T* q, const T* k, const T* v, const T* o, const T* lse, const T* go, T* delta, T* gq,
                   T* gk, T* gv, const AttentionDims& d) {
  const T scale = static_cast<T>(d.scale);
  parallel_for(d.b, d.lq * d.lk * (d.d + d.e) * 4, [&](int64_t b) {
    const ConstMatrixMap<T> Q(q + b * d.d * d.lq, d.d, d.lq), K(k + b * d.d * d.lk, d.d, d.lk);
    const ConstMatrixMap<T> V(v + b * d.e * d.lk, d.e, d.lk), O(o + b * d.e * d.lq, d.e, d.lq);
    const ConstMatrixMap<T> GO(go + b * d.e * d.lq, d.e, d.lq);
    MatrixMap<T> GQ(gq + b * d.d * d.lq, d.d, d.lq), GK(gk + b * d.d * d.lk, d.d, d.lk);
    MatrixMap<T> GV(gv + b * d.e * d.lk, d.e, d.lk);
    T* dl = delta + b * d.lq;
    const T* ls = lse + b * d.lq;
    for (int64_t i = 0; i < d.lq; ++i) dl[i] = 0;
    for (int64_t e = 0; e < d.e; ++e)
      for (int64_t i = 0; i < d.lq; ++i) dl[i] += GO(e, i) * O(e, i);
    GQ.setZero();
    GK.setZero();
    GV.setZero();
    RowMatrix<T> p(std::min(kBq, d.lq), std::min(kBk, d.lk)), dp(p.rows(), p.cols());
    for (int64_t i0 = 0; i0 < d.lq; i0 += kBq) {
      const int64_t bq = std::min(kBq, d.lq - i0);
      const auto Qi = Q.middleCols(i0, bq);
      const auto GOi = GO.middleCols(i0, bq);
      for (int64_t j0 = 0; j0 < d.lk; j0 += kBk) {
        const int64_t bk = std::min(kBk, d.lk - j0);
        auto pb = p.topLeftCorner(bq, bk);
        auto dpb = dp.topLeftCorner(bq, bk);
        pb.noalias() = scale * (Qi.transpose() * K.middleCols(j0, bk));
        dpb.noalias() = GOi.transpose() * V.middleCols(j0, bk);
        for (int64_t r = 0; r < bq; ++r) {
          const T lr = ls[i0 + r], dr = dl[i0 + r];
          T* pr = &pb(r, 0);
          T* dpr = &dpb(r, 0);
          for (int64_t j = 0; j < bk; ++j) {
            pr[j] = exp_nonpos(pr[j] - lr);
            dpr[j] = pr[j] * (dpr[j] - dr);  // ds
          }
        }
        GV.middleCols(j0, bk).noalias() += GOi * pb;
        GQ.middleCols(i0, bq).noalias() += scale * (K.middleCols(j0, bk) * dpb.transpose());
        GK.middleCols(j0, bk).noalias() += scale * (Qi * dpb);
      }
    }
  });
}

template void attention_fwd<float>(const float*, const float*, const float*, float*, float*,
                                   const AttentionDims&);
template void attention_fwd<double>(const double*, const double*, const double*, double*, double*,
                                    const AttentionDims&);
template void attention_bwd<float>(const float*, const float*, const float*, const float*, const float*,
                                   const float*, float*, float*, float*, float*, const AttentionDims&);
template void attention_bwd<double>(const double*, const double*, const double*, const double*, const double*,
                                    const double*, double*, double*, double*, double*, const AttentionDims&);

}  // namespace ddpm::kernels::cpu
