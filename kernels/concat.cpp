#include "kernels/concat.h"

#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

namespace {
std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + shape_str(shapes[i]);
  return s;
}

// Checks the shapes agree except along dim; returns dim normalised to [0, ndim).
int64_t check_shapes(const std::vector<Shape>& shapes, int64_t dim, const char* op) {
  if (shapes.empty()) throw std::invalid_argument(std::string(op) + ": no inputs");
  const int64_t nd = static_cast<int64_t>(shapes[0].size());
  const int64_t d = dim < 0 ? dim + nd : dim;
  if (nd == 0 || d < 0 || d >= nd)
    throw std::invalid_argument(std::string(op) + ": dim " + std::to_string(dim) +
                                " out of range for inputs " + shapes_str(shapes));
  for (const Shape& s : shapes) {
    bool ok = static_cast<int64_t>(s.size()) == nd;
    for (int64_t i = 0; ok && i < nd; ++i)
      ok = i == d || s[static_cast<size_t>(i)] == shapes[0][static_cast<size_t>(i)];
    if (!ok)
      throw std::invalid_argument(std::string(op) + ": inputs " + shapes_str(shapes) +
                                  " differ in a dimension other than dim " + std::to_string(dim));
  }
  return d;
}

ConcatDims dims_of(const std::vector<Shape>& shapes, int64_t d, std::vector<int64_t>& sizes) {
  ConcatDims cd;
  const Shape& s0 = shapes[0];
  for (int64_t i = 0; i < d; ++i) cd.outer *= s0[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(d) + 1; i < s0.size(); ++i) cd.inner *= s0[i];
  for (const Shape& s : shapes) {
    sizes.push_back(s[static_cast<size_t>(d)]);
    cd.total += s[static_cast<size_t>(d)];
  }
  return cd;
}
}  // namespace

Tensor concat_fwd(const std::vector<Tensor>& xs, int64_t dim) {
  const char* op = "concat";
  std::vector<Shape> shapes;
  for (const Tensor& x : xs) {
    check_defined(x, op, "an input");
    shapes.push_back(x.shape());
  }
  const int64_t d = check_shapes(shapes, dim, op);
  for (const Tensor& x : xs) check_same_dtype_device(xs[0], x, op);
  std::vector<int64_t> sizes;
  const ConcatDims cd = dims_of(shapes, d, sizes);
  Shape out_shape = shapes[0];
  out_shape[static_cast<size_t>(d)] = cd.total;
  Tensor out = Tensor::empty(out_shape, xs[0].dtype(), xs[0].device());
  on_device(
      op, xs[0],
      [&](auto t) {
        using T = decltype(t);
        std::vector<const T*> ptrs;
        for (const Tensor& x : xs) ptrs.push_back(x.data<T>());
        cpu::concat_fwd<T>(ptrs.data(), sizes.data(), static_cast<int64_t>(xs.size()), out.data<T>(), cd);
      },
      [&](auto) {
        std::vector<const float*> ptrs;
        for (const Tensor& x : xs) ptrs.push_back(x.data<float>());
        cuda::concat_fwd(ptrs.data(), sizes.data(), static_cast<int64_t>(xs.size()), out.data<float>(), cd);
      });
  return out;
}

std::vector<Tensor> concat_bwd(const Tensor& g, const std::vector<Shape>& shapes, int64_t dim,
                               const std::vector<bool>& need) {
  const char* op = "concat backward";
  check_defined(g, op, "grad_out");
  const int64_t d = check_shapes(shapes, dim, op);
  if (need.size() != shapes.size())
    throw std::invalid_argument(std::string(op) + ": " + std::to_string(need.size()) + " flags for " +
                                std::to_string(shapes.size()) + " inputs");
  std::vector<int64_t> sizes;
  const ConcatDims cd = dims_of(shapes, d, sizes);
  Shape out_shape = shapes[0];
  out_shape[static_cast<size_t>(d)] = cd.total;
  check_shape(g, out_shape, op, "grad_out");
  std::vector<Tensor> gxs(shapes.size());
  for (size_t i = 0; i < shapes.size(); ++i)
    if (need[i]) gxs[i] = Tensor::empty(shapes[i], g.dtype(), g.device());
  on_device(
      op, g,
      [&](auto t) {
        using T = decltype(t);
        std::vector<T*> ptrs;
        for (Tensor& gx : gxs) ptrs.push_back(gx.defined() ? gx.data<T>() : nullptr);
        cpu::concat_bwd<T>(g.data<T>(), ptrs.data(), sizes.data(), static_cast<int64_t>(gxs.size()), cd);
      },
      [&](auto) {
        std::vector<float*> ptrs;
        for (Tensor& gx : gxs) ptrs.push_back(gx.defined() ? gx.data<float>() : nullptr);
        cuda::concat_bwd(g.data<float>(), ptrs.data(), sizes.data(), static_cast<int64_t>(gxs.size()), cd);
      });
  return gxs;
}

}  // namespace ddpm::kernels
