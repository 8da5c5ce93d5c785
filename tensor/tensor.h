// Tensor: a shape, a dtype, a device and a view into reference-counted storage.
//
// Storage is always contiguous and row-major; a Tensor is (storage, offset in
// elements, shape). Copying a Tensor copies the handle, not the data: two
// handles to the same TensorImpl are the same tensor. reshape()/view() make a
// new TensorImpl over the same Storage without copying.
//
// Autograd state lives here too (requires_grad, the accumulated grad, and the
// graph node that produced this tensor) as plain data; recording, the
// differentiable reshape and backward() are in autograd/, one layer up.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace ddpm {

namespace autograd {
struct Node;
}

struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu);
  // Copies `shape_numel(shape)` values from host memory (converting to dtype).
  static Tensor from_host(const float* data, const Shape& shape, DType dtype = DType::f32,
                          Device device = Device::cpu);
  static Tensor from_host(const double* data, const Shape& shape, DType dtype = DType::f64,
                          Device device = Device::cpu);
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape, Device device = Device::cpu);
  static Tensor from_vector(const std::vector<double>& v, const Shape& shape, Device device = Device::cpu);
  // [start, start+step, ...) below end, as a 1-d tensor.
  static Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::f32,
                       Device device = Device::cpu);
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  // size(-1) is the last dimension.
  int64_t size(int64_t d) const;
  int64_t numel() const;
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype()); }
  // "Tensor[4, 3, 32, 32] f32 cpu", for error messages.
  std::string desc() const;

  // ---- data access ----
  // Typed pointer to the first element; throws unless T matches dtype().
  // A device pointer when device() is cuda (for kernels, not for the host).
  template <class T>
  T* data();
  template <class T>
  const T* data() const;
  void* raw_data();
  const void* raw_data() const;
  // Copies to a host vector, converting to T.
  template <class T>
  std::vector<T> to_vector() const;
  // Copies into host memory of the tensor's own dtype (nbytes() bytes).
  void copy_to_host(void* dst) const;
  // The single value of a one-element tensor, as double.
  double item() const;

  // ---- views and copies ----
  // Same storage, new shape (one dimension may be -1), no autograd history;
  // the differentiable reshape is reshape(x, shape) in autograd/functions.h.
  Tensor view(const Shape& shape) const;
  // Same storage, rows [begin, end) of the first dimension (contiguous, as
  // storage is row-major), no autograd history. Throws std::invalid_argument
  // unless 0 <= begin <= end <= size(0).
  Tensor rows(int64_t begin, int64_t end) const;
  // A tensor sharing the data but cut from the graph (requires_grad false).
  Tensor detach() const;
  // Deep copy (no autograd history).
  Tensor clone() const;
  // Copy converted to dtype / moved to device (no autograd history).
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  // Overwrites this tensor's data with src's (same shape; dtype converted).
  void copy_(const Tensor& src);
  void fill_(double value);

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf as needing gradients; returns *this.
  Tensor& set_requires_grad(bool on = true);
  // The gradient accumulated by backward(); undefined until then.
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();
  bool is_leaf() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::f32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;  // null for leaves
};

// Throws std::invalid_argument naming `op` unless t is defined, has `dtype`
// (when given) and lies on `device`.
void check_defined(const Tensor& t, const char* op, const char* what);
void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op);
void check_shape(const Tensor& t, const Shape& expected, const char* op, const char* what);

}  // namespace ddpm
