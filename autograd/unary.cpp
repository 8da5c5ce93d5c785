#include "kernels/unary.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

namespace {
Tensor unary(kernels::UnaryOp op, const Tensor& x) {
  Tensor y = kernels::unary_fwd(op, x);
  return autograd::record(kernels::unary_op_name(op), y, {x},
                          [op, x = x.detach(), y = y.detach()](const Tensor& g) {
                            return std::vector<Tensor>{kernels::unary_bwd(op, x, y, g)};
                          });
}
}  // namespace

Tensor neg(const Tensor& x) { return unary(kernels::UnaryOp::neg, x); }
Tensor exp(const Tensor& x) { return unary(kernels::UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary(kernels::UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary(kernels::UnaryOp::sqrt, x); }
Tensor sin(const Tensor& x) { return unary(kernels::UnaryOp::sin, x); }
Tensor cos(const Tensor& x) { return unary(kernels::UnaryOp::cos, x); }

}  // namespace ddpm
