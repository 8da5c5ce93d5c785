#include "kernels/binary.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

namespace {
Tensor binary(kernels::BinaryOp op, const Tensor& a, const Tensor& b) {
  Tensor out = kernels::binary_fwd(op, a, b);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return autograd::record(kernels::binary_op_name(op), out, {a, b},
                          [op, a = a.detach(), b = b.detach(), ga, gb](const Tensor& g) {
                            std::vector<Tensor> grads(2);
                            kernels::binary_bwd(op, a, b, g, ga ? &grads[0] : nullptr,
                                                gb ? &grads[1] : nullptr);
                            return grads;
                          });
}
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(kernels::BinaryOp::div, a, b); }

Tensor add_scalar(const Tensor& a, double s) { return add(a, Tensor::full({}, s, a.dtype(), a.device())); }
Tensor mul_scalar(const Tensor& a, double s) { return mul(a, Tensor::full({}, s, a.dtype(), a.device())); }

}  // namespace ddpm
