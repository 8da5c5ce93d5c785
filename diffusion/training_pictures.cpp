#include "diffusion/training_pictures.h"

#include <algorithm>
#include <cmath>

#include "autograd/node.h"
#include "diffusion/guidance.h"
#include "diffusion/image_condition.h"
#include "diffusion/sampler.h"
#include "diffusion/streams.h"
#include "kernels/q_sample.h"

namespace ddpm {

void write_sample_grid(Trainer& tr, const std::string& path, const SampleGridOptions& options) {
  autograd::NoGradGuard no_grad;
  Tensor& live = tr.flat().params();
  const Tensor backup = live.clone();
  live.copy_(tr.sampling_weights());
  SamplerConfig sc;
  sc.kind = SamplerKind::ddim;
  sc.steps = std::min(options.steps, tr.config().timesteps);
  sc.eta = options.eta;
  sc.prediction = tr.config().prediction;
  sc.seed = tr.config().seed;
  sc.stream = streams::kSampling;
  const int64_t classes = tr.config().model.num_classes;
  const bool image_cond = tr.config().conditioning == Conditioning::image;
  int64_t num = options.num, nrow = static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(num))));
  std::vector<int64_t> labels;
  Tensor originals, cond;
  if (classes > 0) {
    nrow = (options.num + classes - 1) / classes;
    num = classes * nrow;
    labels = class_grid_labels(classes, nrow);
  } else if (image_cond) {
    // Completions of the data set's first images (centre boxes for
    // inpainting): condition, sample and original side by side, two such
    // triplets per row.
    num = std::min<int64_t>({std::max<int64_t>(1, options.num / 3), 8, tr.images().size(0)});
    nrow = 3 * std::min<int64_t>(num, 2);
    originals = tr.images().rows(0, num).clone();
    const int64_t h = originals.size(2), w = originals.size(3);
    cond = make_condition(
        tr.config(), originals,
        tr.config().task == ImageTask::inpaint
            ? box_masks(std::vector<MaskBox>(static_cast<size_t>(num), center_mask_box(h, w)), h, w)
            : Tensor());
  }
  Tensor x;
  try {
    x = sample(
        tr.scheduler(),
        image_cond ? conditioned_model(tr.model(), cond) : guided_model(tr.model(), labels, options.guidance),
        {num, tr.config().model.in_channels, options.height, options.width}, sc, DType::f32, tr.device());
  } catch (...) {
    live.copy_(backup);
    throw;
  }
  live.copy_(backup);
  GridOptions go;
  go.nrow = nrow;
  go.crop = options.crop;
  Tensor host = x.to(Device::cpu);
  if (image_cond) host = completion_panels(tr.config(), cond, host, originals);
  write_image_grid(path, host, go);
}

void write_forward_process(const Trainer& tr, const Tensor& images, const std::string& path,
                           const CropBox& crop) {
  const int64_t T = tr.config().timesteps;
  const std::vector<int64_t> ts = {0, T / 4, T / 2, 3 * T / 4, T - 1};
  const int64_t c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t k = static_cast<int64_t>(ts.size());
  Tensor x0 = Tensor::empty({k, c, h, w});
  for (int64_t i = 0; i < k; ++i)
    std::copy_n(images.data<float>(), c * h * w, x0.data<float>() + i * c * h * w);
  std::vector<float> a, b;
  for (int64_t t : ts) {
    a.push_back(static_cast<float>(tr.scheduler().sqrt_alphas_cumprod[static_cast<size_t>(t)]));
    b.push_back(static_cast<float>(tr.scheduler().sqrt_one_minus_alphas_cumprod[static_cast<size_t>(t)]));
  }
  const auto q = kernels::q_sample(x0, Tensor::from_vector(a, {k}), Tensor::from_vector(b, {k}),
                                   tr.config().seed, streams::kForwardPicture, 0, false);
  GridOptions go;
  go.nrow = k;
  go.crop = crop;
  write_image_grid(path, q.x_t, go);
}

void write_loss_png(const std::string& path, const std::vector<LossRow>& rows, Prediction prediction,
                    const std::vector<EvalRow>& evals, const std::string& eval_title) {
  std::vector<double> steps, losses;
  for (const LossRow& r : rows) {
    steps.push_back(static_cast<double>(r.step));
    losses.push_back(r.loss);
  }
  PlotOptions opt;
  opt.title =
      std::string("training loss: mse of the predicted ") + (prediction == Prediction::v ? "v" : "noise");
  if (evals.empty()) {
    write_loss_plot(path, steps, losses, opt);
    return;
  }
  // Both panels over the same steps: the loss rows' step s is the (s + 1)-th
  // step, an evaluation's step the number of steps done.
  std::vector<double> es, fd;
  for (const EvalRow& r : evals) {
    es.push_back(static_cast<double>(r.step) - 1);
    fd.push_back(r.fd);
  }
  opt.x_label = "";
  opt.x_min = es.front();
  opt.x_max = es.back();
  PlotOptions fo;
  fo.height = 260;
  fo.smooth_window = 1;
  fo.title = eval_title.empty() ? "sample quality: frechet distance" : eval_title;
  fo.series = "fd";
  fo.markers = true;
  if (!steps.empty()) {
    fo.x_min = steps.front();
    fo.x_max = steps.back();
  }
  write_png(path, stack_vertically({render_loss_plot(steps, losses, opt), render_loss_plot(es, fd, fo)}));
}

}  // namespace ddpm
