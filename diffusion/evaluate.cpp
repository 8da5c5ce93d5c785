#include "diffusion/evaluate.h"

#include <algorithm>
#include <stdexcept>

#include "autograd/node.h"

namespace ddpm {

Tensor crop_images(const Tensor& images, const CropBox& crop) {
  const Tensor x = images.to(Device::cpu).to(DType::f32);
  if (x.dim() != 4) throw std::invalid_argument("crop_images: expected [N, C, H, W] images");
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (crop.empty()) return x.clone();
  if (crop.top < 0 || crop.left < 0 || crop.height < 1 || crop.width < 1 || crop.top + crop.height > h ||
      crop.left + crop.width > w)
    throw std::invalid_argument("crop_images: crop " + std::to_string(crop.height) + "x" +
                                std::to_string(crop.width) + " at (" + std::to_string(crop.top) + ", " +
                                std::to_string(crop.left) + ") does not fit images of " + std::to_string(h) +
                                "x" + std::to_string(w));
  Tensor out = Tensor::empty({n, c, crop.height, crop.width});
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < crop.height; ++y)
      std::copy_n(src + (p * h + crop.top + y) * w + crop.left, crop.width,
                  dst + (p * crop.height + y) * crop.width);
  return out;
}

Tensor sample_for_eval(const NoiseScheduler& sched, const DenoiseFn& model, const EvalSampling& opt,
                       DType dtype, Device device, const EvalProgress& progress) {
  return sample_for_eval_by_batch(
      sched, [&model](int64_t, int64_t) { return model; }, opt, dtype, device, progress);
}

std::vector<int64_t> balanced_labels(int64_t n, int64_t k) {
  if (n < 0 || k < 1)
    throw std::invalid_argument("balanced_labels: need n >= 0 and k >= 1, got n " + std::to_string(n) +
                                ", k " + std::to_string(k));
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[static_cast<size_t>(i)] = i % k;
  return y;
}

Tensor sample_for_eval_by_batch(const NoiseScheduler& sched, const EvalModelFn& model_for,
                                const EvalSampling& opt, DType dtype, Device device,
                                const EvalProgress& progress) {
  if (opt.num < 1 || opt.batch < 1)
    throw std::invalid_argument("sample_for_eval: expected num >= 1 and batch >= 1, got num " +
                                std::to_string(opt.num) + ", batch " + std::to_string(opt.batch));
  autograd::NoGradGuard no_grad;
  const int64_t h = opt.crop.empty() ? opt.height : opt.crop.height;
  const int64_t w = opt.crop.empty() ? opt.width : opt.crop.width;
  Tensor out = Tensor::empty({opt.num, opt.channels, h, w});
  const int64_t per = opt.channels * h * w;
  int64_t done = 0;
  for (int64_t b = 0; done < opt.num; ++b) {
    const int64_t k = std::min(opt.batch, opt.num - done);
    SamplerConfig sc = opt.sampler;
    sc.stream = kEvalSamplingStream + static_cast<uint64_t>(b);
    const Tensor x =
        sample(sched, model_for(done, k), {k, opt.channels, opt.height, opt.width}, sc, dtype, device);
    const Tensor c = crop_images(x, opt.crop);
    std::copy_n(c.data<float>(), k * per, out.data<float>() + done * per);
    done += k;
    if (progress) progress(done, opt.num);
  }
  return out;
}

eval::SampleScores evaluate_trainer(Trainer& tr, const TrainingEval& options, const CropBox& crop,
                                    int64_t height, int64_t width) {
  if (!options.classifier || !options.reference)
    throw std::invalid_argument("evaluate_trainer: no classifier or reference set given");
  autograd::NoGradGuard no_grad;
  Tensor& live = tr.flat().params();
  const Tensor backup = live.clone();
  live.copy_(tr.sampling_weights());
  EvalSampling es;
  es.num = options.num;
  es.batch = std::min(options.batch, options.num);
  es.sampler.kind = SamplerKind::ddim;
  es.sampler.steps = std::min(options.steps, tr.config().timesteps);
  es.sampler.eta = options.eta;
  es.sampler.prediction = tr.config().prediction;
  es.sampler.seed = tr.config().seed;
  es.channels = tr.config().model.in_channels;
  es.height = height;
  es.width = width;
  es.crop = crop;
  Tensor images;
  try {
    images = sample_for_eval(
        tr.scheduler(), [&](const Tensor& xt, const Tensor& t) { return tr.model().forward(xt, t); }, es,
        DType::f32, tr.device());
  } catch (...) {
    live.copy_(backup);
    throw;
  }
  live.copy_(backup);
  const eval::ClassifierOutputs out = eval::classify(*options.classifier, images);
  return eval::score_outputs(out, *options.reference, tr.config().seed);
}

}  // namespace ddpm
