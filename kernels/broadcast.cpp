#include "kernels/broadcast.h"

#include <stdexcept>
#include <string>

namespace ddpm::kernels {

namespace {
// Strides of `s` laid against the trailing dimensions of `out`, 0 where broadcast.
std::vector<int64_t> aligned_strides(const Shape& out, const Shape& s) {
  std::vector<int64_t> st(out.size(), 0);
  const std::vector<int64_t> own = contiguous_strides(s);
  const size_t lead = out.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) st[lead + i] = s[i] == 1 ? 0 : own[i];
  return st;
}
}  // namespace

BroadcastPlan make_broadcast_plan(const Shape& out, const Shape& a, const Shape& b) {
  if (a.size() > out.size() || b.size() > out.size())
    throw std::invalid_argument("broadcast: operand has more dimensions than the output " + shape_str(out));
  const std::vector<int64_t> sa = aligned_strides(out, a), sb = aligned_strides(out, b);
  // Drop size-1 output dims, then merge runs that are contiguous for both operands.
  std::vector<int64_t> dims, da, db;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 1) continue;
    if (!dims.empty() && da.back() == sa[i] * out[i] && db.back() == sb[i] * out[i]) {
      dims.back() *= out[i];
      da.back() = sa[i];
      db.back() = sb[i];
      continue;
    }
    dims.push_back(out[i]);
    da.push_back(sa[i]);
    db.push_back(sb[i]);
  }
  if (dims.size() > static_cast<size_t>(kMaxDims))
    throw std::invalid_argument("broadcast: more than " + std::to_string(kMaxDims) +
                                " non-mergeable dimensions in " + shape_str(out));
  BroadcastPlan p;
  p.ndim = static_cast<int>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    p.shape[i] = dims[i];
    p.stride[0][i] = da[i];
    p.stride[1][i] = db[i];
  }
  p.numel = shape_numel(out);
  return p;
}

}  // namespace ddpm::kernels
