// CPU elementwise binary ops and sum_to over a BroadcastPlan.
//
// The plan's last (merged) dimension is the inner loop, with stride 0 or 1
// for each operand in the common cases, so the compiler vectorises it; rows
// of the outer dimensions are split across threads.
#include "kernels/binary.h"

#include <vector>

#include "kernels/cpu/parallel.h"

namespace ddpm::kernels::cpu {

namespace {

template <class T, class Op>
void run_binary(const T* a, const T* b, T* out, const BroadcastPlan& p, Op op) {
  if (p.ndim == 0) {
    out[0] = op(a[0], b[0]);
    return;
  }
  const int64_t inner = p.shape[p.ndim - 1];
  const int64_t rows = p.numel / inner;
  const int64_t sa = p.stride[0][p.ndim - 1], sb = p.stride[1][p.ndim - 1];
  parallel_for(rows, inner, [&](int64_t r) {
    int64_t oa, ob;
    row_offsets(p, r, oa, ob);
    T* o = out + r * inner;
    const T* pa = a + oa;
    const T* pb = b + ob;
    if (sa == 1 && sb == 1) {
      for (int64_t j = 0; j < inner; ++j) o[j] = op(pa[j], pb[j]);
    } else if (sa == 1 && sb == 0) {
      const T vb = pb[0];
      for (int64_t j = 0; j < inner; ++j) o[j] = op(pa[j], vb);
    } else if (sa == 0 && sb == 1) {
      const T va = pa[0];
      for (int64_t j = 0; j < inner; ++j) o[j] = op(va, pb[j]);
    } else {
      for (int64_t j = 0; j < inner; ++j) o[j] = op(pa[j * sa], pb[j * sb]);
    }
  });
}

}  // namespace

template <class T>
void binary_fwd(BinaryOp op, const T* a, const T* b, T* out, const BroadcastPlan& plan) {
  switch (op) {
    case BinaryOp::add:
      return run_binary(a, b, out, plan, [](T x, T y) { return x + y; });
    case BinaryOp::sub:
      return run_binary(a, b, out, plan, [](T x, T y) { return x - y; });
    case BinaryOp::mul:
      return run_binary(a, b, out, plan, [](T x, T y) { return x * y; });
    case BinaryOp::div:
      return run_binary(a, b, out, plan, [](T x, T y) { return x / y; });
  }
}

template <class T>
void sum_to(const T* x, T* out, int64_t out_numel, const BroadcastPlan& p) {
  if (p.ndim == 0) {
    out[0] = x[0];
    return;
  }
  // A fixed summation order (rows in order; threads only where every row
  // has an output of its own). The
  // sums run in double and are rounded once, as on CUDA: a float running sum
  // over thousands of random-sign terms drifts by many ulps of the total.
  std::vector<double> acc(static_cast<size_t>(out_numel), 0.0);
  const int64_t inner = p.shape[p.ndim - 1];
  const int64_t rows = p.numel / inner;
  const int64_t so = p.stride[1][p.ndim - 1];
  // One row's sum: eight running sums (lane k takes j = k mod 8) added at the
  // end, a fixed order that the compiler vectorises (one running sum would
  // wait on every add).
  auto row_sum = [inner](const T* px) {
    double lane[8] = {};
    int64_t j = 0;
    for (; j + 8 <= inner; j += 8)
      for (int k = 0; k < 8; ++k) lane[k] += static_cast<double>(px[j + k]);
    double s = 0;
    for (; j < inner; ++j) s += static_cast<double>(px[j]);
    for (int k = 0; k < 8; ++k) s += lane[k];
    return s;
  };
  if (so == 0 && rows == out_numel) {
    // Every row sums into an output of its own (e.g. [N, C, H, W] -> [N, C,
    // 1, 1], the time-embedding gradient): the rows can go to threads.
    parallel_for(rows, inner, [&](int64_t r) {
      int64_t ox, oo;
      row_offsets(p, r, ox, oo);
      acc[static_cast<size_t>(oo)] = row_sum(x + ox);
    });
    for (int64_t i = 0; i < out_numel; ++i) out[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t ox, oo;
    row_offsets(p, r, ox, oo);
    const T* px = x + ox;
    double* po = acc.data() + oo;
    if (so == 0) {
      po[0] += row_sum(px);
    } else {
      for (int64_t j = 0; j < inner; ++j) po[j * so] += static_cast<double>(px[j]);
    }
  }
  for (int64_t i = 0; i < out_numel; ++i) out[i] = static_cast<T>(acc[static_cast<size_t>(i)]);
}

template void binary_fwd<float>(BinaryOp, const float*, const float*, float*, const BroadcastPlan&);
template void binary_fwd<double>(BinaryOp, const double*, const double*, double*, const BroadcastPlan&);
template void sum_to<float>(const float*, float*, int64_t, const BroadcastPlan&);
template void sum_to<double>(const double*, double*, int64_t, const BroadcastPlan&);

}  // namespace ddpm::kernels::cpu
