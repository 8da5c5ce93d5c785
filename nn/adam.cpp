#include "nn/adam.h"

#include <stdexcept>
#include <string>

namespace ddpm::nn {

Adam::Adam(FlatParameters& params, const AdamConfig& cfg) : params_(params), cfg_(cfg) {
  if (!(cfg.lr >= 0) || !(cfg.beta1 >= 0 && cfg.beta1 < 1) || !(cfg.beta2 >= 0 && cfg.beta2 < 1) ||
      !(cfg.eps > 0) || !(cfg.weight_decay >= 0))
    throw std::invalid_argument("Adam: need lr >= 0, 0 <= beta1, beta2 < 1, eps > 0, weight_decay >= 0");
  m_ = Tensor::zeros(params.params().shape(), params.params().dtype(), params.params().device());
  v_ = Tensor::zeros(params.params().shape(), params.params().dtype(), params.params().device());
}

void Adam::step(double lr) { update(lr, nullptr, 0); }

void Adam::step(double lr, Tensor& ema, double ema_decay) { update(lr, &ema, ema_decay); }

void Adam::update(double lr, Tensor* ema, double ema_decay) {
  kernels::AdamParams p;
  p.lr = lr < 0 ? cfg_.lr : lr;
  p.beta1 = cfg_.beta1;
  p.beta2 = cfg_.beta2;
  p.eps = cfg_.eps;
  p.weight_decay = cfg_.weight_decay;
  p.decoupled = cfg_.decoupled;
  p.ema_decay = ema_decay;
  // The step counter moves only once the update has been accepted (a
  // refused EMA buffer throws before anything changes).
  p.step = step_ + 1;
  kernels::adam_update(params_.params(), params_.grads(), m_, v_, p, ema);
  ++step_;
}

}  // namespace ddpm::nn
