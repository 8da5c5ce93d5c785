#include "tensor/tensor.h"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "tensor/allocator.h"
#include "tensor/cuda_backend.h"

namespace ddpm {

namespace {

const TensorImpl& need(const std::shared_ptr<TensorImpl>& p) {
  if (!p) throw std::logic_error("operation on an undefined Tensor");
  return *p;
}

template <class Dst, class Src>
void convert(Dst* dst, const Src* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src[i]);
}

// Calls f(T{}) with T the element type of dtype (float, double or bf16).
template <class F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f64:
      return f(double{});
    case DType::bf16:
      return f(bf16{});
    case DType::f32:
      break;
  }
  return f(float{});
}

// Converts n host values of type Src into a fresh tensor of dtype on device.
template <class Src>
Tensor make_from_host(const Src* data, const Shape& shape, DType dtype, Device device) {
  Tensor cpu = Tensor::empty(shape, dtype, Device::cpu);
  const int64_t n = shape_numel(shape);
  visit_dtype(dtype, [&](auto t) { convert(cpu.data<decltype(t)>(), data, n); });
  return device == Device::cpu ? cpu : cpu.to(device);
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("Tensor::empty: negative dimension in " + shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage =
      std::make_shared<Storage>(static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_host(const float* data, const Shape& shape, DType dtype, Device device) {
  return make_from_host(data, shape, dtype, device);
}

Tensor Tensor::from_host(const double* data, const Shape& shape, DType dtype, Device device) {
  return make_from_host(data, shape, dtype, device);
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape, Device device) {
  if (static_cast<int64_t>(v.size()) != shape_numel(shape))
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(v.size()) +
                                " values do not fill shape " + shape_str(shape));
  return from_host(v.data(), shape, DType::f32, device);
}

Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& shape, Device device) {
  if (static_cast<int64_t>(v.size()) != shape_numel(shape))
    throw std::invalid_argument("Tensor::from_vector: " + std::to_string(v.size()) +
                                " values do not fill shape " + shape_str(shape));
  return from_host(v.data(), shape, DType::f64, device);
}

Tensor Tensor::arange(double start, double end, double step, DType dtype, Device device) {
  if (step == 0.0 || !std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    throw std::invalid_argument("Tensor::arange: need finite start/end and a non-zero step");
  const double count = std::ceil((end - start) / step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = start + step * static_cast<double>(i);
  return from_host(v.data(), {n}, dtype, device);
}

Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

const Shape& Tensor::shape() const { return need(impl_).shape; }

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  const int64_t i = d < 0 ? d + n : d;
  if (i < 0 || i >= n) throw std::out_of_range("Tensor::size(" + std::to_string(d) + ") on " + desc());
  return shape()[static_cast<size_t>(i)];
}

int64_t Tensor::numel() const { return shape_numel(shape()); }
DType Tensor::dtype() const { return need(impl_).dtype; }
Device Tensor::device() const { return need(impl_).storage->device(); }

std::string Tensor::desc() const {
  if (!impl_) return "Tensor(undefined)";
  return std::string("Tensor") + shape_str(shape()) + " " + dtype_name(dtype()) + " " + device_name(device());
}

void* Tensor::raw_data() {
  const TensorImpl& im = need(impl_);
  return static_cast<char*>(im.storage->data()) + im.offset * static_cast<int64_t>(dtype_size(im.dtype));
}

const void* Tensor::raw_data() const {
  const TensorImpl& im = need(impl_);
  return static_cast<const char*>(im.storage->data()) +
         im.offset * static_cast<int64_t>(dtype_size(im.dtype));
}

template <class T>
T* Tensor::data() {
  if (dtype() != dtype_of<T>::value)
    throw std::invalid_argument(std::string("Tensor::data<") + dtype_name(dtype_of<T>::value) + "> on " +
                                desc());
  return static_cast<T*>(raw_data());
}

template <class T>
const T* Tensor::data() const {
  if (dtype() != dtype_of<T>::value)
    throw std::invalid_argument(std::string("Tensor::data<") + dtype_name(dtype_of<T>::value) + "> on " +
                                desc());
  return static_cast<const T*>(raw_data());
}

template float* Tensor::data<float>();
template double* Tensor::data<double>();
template bf16* Tensor::data<bf16>();
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const bf16* Tensor::data<bf16>() const;

void Tensor::copy_to_host(void* dst) const { device_copy(dst, Device::cpu, raw_data(), device(), nbytes()); }

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor host = device() == Device::cpu ? *this : to(Device::cpu);
  std::vector<T> out(static_cast<size_t>(numel()));
  visit_dtype(dtype(), [&](auto t) { convert(out.data(), host.data<decltype(t)>(), numel()); });
  return out;
}

template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;

double Tensor::item() const {
  if (numel() != 1) throw std::invalid_argument("Tensor::item on " + desc() + ": need one element");
  return to_vector<double>()[0];
}

Tensor Tensor::view(const Shape& new_shape) const {
  const TensorImpl& im = need(impl_);
  Shape s = new_shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw std::invalid_argument("reshape: two -1 dimensions in " + shape_str(new_shape));
      infer = static_cast<int>(i);
    } else if (s[i] < 0) {
      throw std::invalid_argument("reshape: negative dimension in " + shape_str(new_shape));
    } else {
      known *= s[i];
    }
  }
  const int64_t n = shape_numel(im.shape);
  if (infer >= 0) {
    if (known == 0 || n % known != 0)
      throw std::invalid_argument("reshape: cannot view " + desc() + " as " + shape_str(new_shape));
    s[static_cast<size_t>(infer)] = n / known;
  }
  if (shape_numel(s) != n)
    throw std::invalid_argument("reshape: cannot view " + desc() + " (" + std::to_string(n) +
                                " elements) as " + shape_str(new_shape));
  auto v = std::make_shared<TensorImpl>();
  v->storage = im.storage;
  v->offset = im.offset;
  v->shape = std::move(s);
  v->dtype = im.dtype;
  return Tensor(std::move(v));
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  const TensorImpl& im = need(impl_);
  if (im.shape.empty() || begin < 0 || begin > end || end > im.shape[0])
    throw std::invalid_argument("rows: [" + std::to_string(begin) + ", " + std::to_string(end) + ") of " +
                                desc() + ", expected 0 <= begin <= end <= size(0)");
  const int64_t per = im.shape[0] == 0 ? 0 : shape_numel(im.shape) / im.shape[0];
  auto v = std::make_shared<TensorImpl>();
  v->storage = im.storage;
  v->offset = im.offset + begin * per;
  v->shape = im.shape;
  v->shape[0] = end - begin;
  v->dtype = im.dtype;
  return Tensor(std::move(v));
}

Tensor Tensor::detach() const {
  const TensorImpl& im = need(impl_);
  auto v = std::make_shared<TensorImpl>();
  v->storage = im.storage;
  v->offset = im.offset;
  v->shape = im.shape;
  v->dtype = im.dtype;
  return Tensor(std::move(v));
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  device_copy(out.raw_data(), device(), raw_data(), device(), nbytes());
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return clone();
  // Through the host on CUDA: dtype conversions there are rare (f64 tensors
  // exist on the device only for tests, bf16 ones for checkpoint export),
  // not worth a kernel.
  if (device() != Device::cpu) return to(Device::cpu).to(dt).to(device());
  Tensor out = empty(shape(), dt, Device::cpu);
  visit_dtype(dt, [&](auto d) {
    visit_dtype(dtype(), [&](auto s) { convert(out.data<decltype(d)>(), data<decltype(s)>(), numel()); });
  });
  return out;
}

Tensor Tensor::to(Device dev) const {
  Tensor out = empty(shape(), dtype(), dev);
  device_copy(out.raw_data(), dev, raw_data(), device(), nbytes());
  return out;
}

void Tensor::copy_(const Tensor& src) {
  if (src.shape() != shape())
    throw std::invalid_argument("Tensor::copy_: source " + src.desc() + " into " + desc());
  Tensor s = src.dtype() == dtype() ? src : src.to(dtype());
  device_copy(raw_data(), device(), s.raw_data(), s.device(), nbytes());
}

void Tensor::fill_(double value) {
  if (device() == Device::cuda) {  // a device kernel or memset, no host buffer
    cuda::fill(raw_data(), numel(), dtype(), value);
    return;
  }
  const int64_t n = numel();
  visit_dtype(dtype(), [&](auto t) {
    using T = decltype(t);
    T* p = data<T>();
    const T v = static_cast<T>(value);
    for (int64_t i = 0; i < n; ++i) p[i] = v;
  });
}

bool Tensor::requires_grad() const { return need(impl_).requires_grad; }

Tensor& Tensor::set_requires_grad(bool on) {
  need(impl_);
  if (impl_->grad_fn && !on)
    throw std::logic_error("set_requires_grad(false) on a non-leaf " + desc() + ": use detach()");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const { return need(impl_).grad; }

void Tensor::set_grad(const Tensor& g) {
  need(impl_);
  if (g.defined() && g.shape() != shape())
    throw std::invalid_argument("set_grad: gradient " + g.desc() + " for " + desc());
  impl_->grad = g;
}

void Tensor::zero_grad() {
  need(impl_).grad;
  impl_->grad = Tensor();
}

bool Tensor::is_leaf() const { return need(impl_).grad_fn == nullptr; }

void check_defined(const Tensor& t, const char* op, const char* what) {
  if (!t.defined()) throw std::invalid_argument(std::string(op) + ": " + what + " is an undefined tensor");
}

void check_same_dtype_device(const Tensor& a, const Tensor& b, const char* op) {
  if (a.dtype() != b.dtype() || a.device() != b.device())
    throw std::invalid_argument(std::string(op) + ": operands " + a.desc() + " and " + b.desc() +
                                " differ in dtype or device");
}

void check_shape(const Tensor& t, const Shape& expected, const char* op, const char* what) {
  if (t.shape() != expected)
    throw std::invalid_argument(std::string(op) + ": " + what + " is " + t.desc() + ", expected shape " +
                                shape_str(expected));
}

}  // namespace ddpm
