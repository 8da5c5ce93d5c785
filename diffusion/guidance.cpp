#include "diffusion/guidance.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm {

DenoiseFn guided_model(nn::UNet& model, std::vector<int64_t> labels, double scale) {
  const int64_t classes = model.config().num_classes;
  if (labels.empty()) return [&model](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
  if (classes == 0) throw std::invalid_argument("guided_model: class labels given to an unconditional model");
  if (!std::isfinite(scale) || scale < 0 || scale > 1000)
    throw std::invalid_argument("guided_model: guidance scale " + std::to_string(scale) +
                                ", expected a finite value in [0, 1000]");
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw std::invalid_argument("guided_model: class " + std::to_string(labels[i]) + " of image " +
                                  std::to_string(i) + " is out of range (expected 0.." +
                                  std::to_string(classes - 1) + ")");
  const int64_t n = static_cast<int64_t>(labels.size());
  auto check = [n](const Tensor& x) {
    if (x.size(0) != n)
      throw std::invalid_argument("guided_model: the sampler's batch has " + std::to_string(x.size(0)) +
                                  " images, the labels are for " + std::to_string(n));
  };
  if (scale == 1.0)
    return [&model, labels = std::move(labels), check](const Tensor& x, const Tensor& t) {
      check(x);
      return model.forward(x, t, labels);
    };
  std::vector<int64_t> both = labels;
  both.insert(both.end(), labels.size(), model.null_label());
  return [&model, both = std::move(both), n, scale, check](const Tensor& x, const Tensor& t) {
    check(x);
    const Tensor out = model.forward(concat({x, x}, 0), concat({t, t}, 0), both);
    const Tensor cond = out.rows(0, n), uncond = out.rows(n, 2 * n);
    return add(uncond, mul_scalar(sub(cond, uncond), scale));
  };
}

std::vector<int64_t> class_grid_labels(int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1)
    throw std::invalid_argument("class_grid_labels: need rows and cols >= 1, got " + std::to_string(rows) +
                                " x " + std::to_string(cols));
  std::vector<int64_t> y;
  y.reserve(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) y.insert(y.end(), static_cast<size_t>(cols), r);
  return y;
}

}  // namespace ddpm
