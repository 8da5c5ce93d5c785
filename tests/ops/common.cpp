#include "tests/ops/common.h"

#include <cstdlib>
#include <memory>
#include <utility>

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm::test::cases {

double fp32_tol(int64_t k) {
  return std::max(1e-6, 4.0 * std::sqrt(static_cast<double>(k) / 2.0) * std::ldexp(1.0, -24));
}

std::string fp32_why(int64_t k) {
  return "FP32 sums of up to " + std::to_string(k) + " terms in another order: 4 sqrt(k/2) 2^-24";
}

bool small_only() {
  const char* v = std::getenv("DDPM_PARITY_SMALL");
  return v && *v && std::string(v) != "0";
}

Tensor offset_view(const Shape& shape, Device device, int64_t extra) {
  const Tensor buf = Tensor::zeros({shape_numel(shape) + extra}, DType::f32, device);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = buf.impl()->storage;
  impl->offset = buf.impl()->offset + extra;
  impl->shape = shape;
  impl->dtype = DType::f32;
  return Tensor(std::move(impl));
}

Tensor make_input(const In& in, uint64_t stream, Device device) {
  if (!in.unaligned) return parity_input(in.shape, stream, device, in.lo, in.hi, in.grad);
  Tensor v = offset_view(in.shape, device, 1);
  v.copy_(parity_input(in.shape, stream, device, in.lo, in.hi));
  v.set_requires_grad(in.grad);
  // Pre-bound zero gradient: backward adds into it in place (binary_inplace).
  if (in.grad) v.impl()->grad = offset_view(in.shape, device, 3);
  return v;
}

NamedResults run_with_grads(const std::vector<In>& ins, const std::function<Tensor(const Inputs&)>& fn,
                            Device device) {
  Inputs xs;
  for (size_t i = 0; i < ins.size(); ++i) xs.push_back(make_input(ins[i], 10 + i, device));
  const Tensor y = fn(xs);
  autograd::backward(y, parity_input(y.shape(), 99, device));
  NamedResults r{{"y", y}};
  for (size_t i = 0; i < ins.size(); ++i)
    if (ins[i].grad) r.emplace_back("grad input " + std::to_string(i), xs[i].grad());
  return r;
}

ParityCase grad_case(const std::string& op, const std::string& label, std::vector<In> ins,
                     std::function<Tensor(const Inputs&)> fn, double tol, const std::string& why) {
  return ParityCase{
      op, label, [ins = std::move(ins), fn = std::move(fn)](Device d) { return run_with_grads(ins, fn, d); },
      tol, why};
}

std::vector<BenchShape> unet_activation_shapes(int64_t groups) {
  std::vector<BenchShape> shapes;
  for (const auto& [c, hw] :
       std::vector<std::pair<int64_t, int64_t>>{{64, 32}, {128, 16}, {256, 8}, {512, 4}}) {
    BenchShape b;
    b.label = std::to_string(c) + "x" + std::to_string(hw) + "x" + std::to_string(hw) +
              (groups > 0 ? " G" + std::to_string(groups) : "");
    b.sample = {c, hw, hw};
    b.groups = groups;
    shapes.push_back(b);
  }
  return shapes;
}

}  // namespace ddpm::test::cases
