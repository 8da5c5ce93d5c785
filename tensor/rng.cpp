#include "tensor/rng.h"

#include "tensor/cuda_backend.h"
#include "tensor/philox.h"

namespace ddpm {

namespace {

template <class T, class F>
void fill_with(Tensor& t, F&& f) {
  T* p = t.data<T>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(f(static_cast<uint64_t>(i)));
}

template <class F>
void fill_any(Tensor& t, F&& f) {
  switch (t.dtype()) {
    case DType::f32:
      fill_with<float>(t, f);
      break;
    case DType::f64:
      fill_with<double>(t, f);
      break;
    case DType::bf16:  // drawn in double like the others, rounded once to bf16 through float
      fill_with<bf16>(t, f);
      break;
  }
}

}  // namespace

void fill_normal(Tensor& t, uint64_t seed, uint64_t stream, uint64_t offset) {
  if (t.device() == Device::cuda) {  // drawn on the device (tensor/cuda/rng.cu), same values
    cuda::fill_normal(t.raw_data(), t.numel(), t.dtype(), seed, stream, offset);
    return;
  }
  fill_any(t, [&](uint64_t i) { return philox::normal(seed, stream, offset + i); });
}

void fill_uniform(Tensor& t, double lo, double hi, uint64_t seed, uint64_t stream, uint64_t offset) {
  if (t.device() == Device::cuda) {
    cuda::fill_uniform(t.raw_data(), t.numel(), t.dtype(), lo, hi, seed, stream, offset);
    return;
  }
  fill_any(t, [&](uint64_t i) { return lo + (hi - lo) * philox::uniform(seed, stream, offset + i); });
}

Tensor randn(const Shape& shape, uint64_t seed, uint64_t stream, DType dtype, Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  fill_normal(t, seed, stream);
  return t;
}

Tensor rand_uniform(const Shape& shape, double lo, double hi, uint64_t seed, uint64_t stream, DType dtype,
                    Device device) {
  Tensor t = Tensor::empty(shape, dtype, device);
  fill_uniform(t, lo, hi, seed, stream);
  return t;
}

}  // namespace ddpm
