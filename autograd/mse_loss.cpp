#include "kernels/mse_loss.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  Tensor loss = kernels::mse_loss_fwd(pred, target);
  const bool gp = pred.requires_grad(), gt = target.requires_grad();
  return autograd::record(
      "mse_loss", loss, {pred, target}, [p = pred.detach(), t = target.detach(), gp, gt](const Tensor& g) {
        std::vector<Tensor> grads(2);
        kernels::mse_loss_bwd(p, t, g, gp ? &grads[0] : nullptr, gt ? &grads[1] : nullptr);
        return grads;
      });
}

}  // namespace ddpm
