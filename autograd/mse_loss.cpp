#include "kernels/mse_loss.h"

#include "autograd/functions.h"
#include "autograd/node.h"

namespace ddpm {

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  const bool gp = pred.requires_grad(), gt = target.requires_grad();
  // The training step's case (only pred needs a gradient, on the CPU): the
  // forward writes d loss / d pred in the same pass, and a backward with
  // the usual upstream gradient of 1 hands it over without a second pass.
  const bool fused = gp && !gt && autograd::grad_enabled() && pred.device() == Device::cpu;
  Tensor grad1;
  Tensor loss = kernels::mse_loss_fwd(pred, target, fused ? &grad1 : nullptr);
  return autograd::record(
      "mse_loss", loss, {pred, target},
      [p = pred.detach(), t = target.detach(), grad1, gp, gt](const Tensor& g) {
        std::vector<Tensor> grads(2);
        if (grad1.defined() && g.device() == Device::cpu && g.numel() == 1 && g.item() == 1.0) {
          grads[0] = grad1;
          return grads;
        }
        kernels::mse_loss_bwd(p, t, g, gp ? &grads[0] : nullptr, gt ? &grads[1] : nullptr);
        return grads;
      });
}

}  // namespace ddpm
