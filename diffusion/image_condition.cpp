#include "diffusion/image_condition.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "tensor/philox.h"

namespace ddpm {

namespace {

void require_host_images(const char* op, const Tensor& x) {
  if (x.dim() != 4 || x.dtype() != DType::f32 || x.device() != Device::cpu)
    throw std::invalid_argument(std::string(op) + ": expected [N, C, H, W] f32 images on the cpu, got " +
                                x.desc());
}

}  // namespace

Tensor downsample_mean(const Tensor& images, int64_t f) {
  require_host_images("downsample_mean", images);
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  if (f < 1 || h % f != 0 || w % f != 0)
    throw std::invalid_argument("downsample_mean: factor " + std::to_string(f) + " does not divide " +
                                images.desc());
  const int64_t ho = h / f, wo = w / f;
  Tensor out = Tensor::empty({n, c, ho, wo});
  const float* src = images.data<float>();
  float* dst = out.data<float>();
  const double inv = 1.0 / static_cast<double>(f * f);
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < ho; ++y)
      for (int64_t x = 0; x < wo; ++x) {
        double sum = 0;
        for (int64_t dy = 0; dy < f; ++dy)
          for (int64_t dx = 0; dx < f; ++dx) sum += src[(p * h + y * f + dy) * w + x * f + dx];
        dst[(p * ho + y) * wo + x] = static_cast<float>(sum * inv);
      }
  return out;
}

Tensor upsample_nearest(const Tensor& images, int64_t f) {
  require_host_images("upsample_nearest", images);
  if (f < 1) throw std::invalid_argument("upsample_nearest: factor " + std::to_string(f) + ", expected >= 1");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t ho = h * f, wo = w * f;
  Tensor out = Tensor::empty({n, c, ho, wo});
  const float* src = images.data<float>();
  float* dst = out.data<float>();
  for (int64_t p = 0; p < n * c; ++p)
    for (int64_t y = 0; y < ho; ++y)
      for (int64_t x = 0; x < wo; ++x) dst[(p * ho + y) * wo + x] = src[(p * h + y / f) * w + x / f];
  return out;
}

MaskBox random_mask_box(int64_t h, int64_t w, uint64_t seed, uint64_t stream, uint64_t index) {
  auto side = [](int64_t size, uint64_t s, uint64_t st, uint64_t i) {
    const int64_t lo = std::max<int64_t>(1, size / 4), hi = std::max<int64_t>(lo, size / 2);
    return lo + philox::uniform_int(s, st, i, hi - lo + 1);
  };
  MaskBox b;
  b.height = side(h, seed, stream, 4 * index);
  b.width = side(w, seed, stream, 4 * index + 1);
  b.top = philox::uniform_int(seed, stream, 4 * index + 2, h - b.height + 1);
  b.left = philox::uniform_int(seed, stream, 4 * index + 3, w - b.width + 1);
  return b;
}

MaskBox center_mask_box(int64_t h, int64_t w) {
  MaskBox b;
  b.height = std::max<int64_t>(1, h / 2);
  b.width = std::max<int64_t>(1, w / 2);
  b.top = (h - b.height) / 2;
  b.left = (w - b.width) / 2;
  return b;
}

Tensor box_masks(const std::vector<MaskBox>& boxes, int64_t h, int64_t w) {
  const auto n = static_cast<int64_t>(boxes.size());
  Tensor m = Tensor::zeros({n, 1, h, w});
  float* d = m.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    const MaskBox& b = boxes[static_cast<size_t>(i)];
    if (b.top < 0 || b.left < 0 || b.height < 1 || b.width < 1 || b.top + b.height > h ||
        b.left + b.width > w)
      throw std::invalid_argument("box_masks: box " + std::to_string(i) + " (top " + std::to_string(b.top) +
                                  ", left " + std::to_string(b.left) + ", " + std::to_string(b.height) + "x" +
                                  std::to_string(b.width) + ") is not inside " + std::to_string(h) + "x" +
                                  std::to_string(w));
    for (int64_t y = b.top; y < b.top + b.height; ++y)
      for (int64_t x = b.left; x < b.left + b.width; ++x) d[(i * h + y) * w + x] = 1.0f;
  }
  return m;
}

Tensor make_condition(const TrainConfig& cfg, const Tensor& images, const Tensor& masks) {
  if (cfg.conditioning != Conditioning::image)
    throw std::invalid_argument("make_condition: the model is not image-conditional (conditional=" +
                                std::string(conditioning_name(cfg.conditioning)) + ")");
  require_host_images("make_condition", images);
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  check_condition_geometry(cfg, h, w);
  if (cfg.task == ImageTask::superres) {
    const int64_t f = superres_factor(cfg, h);
    return upsample_nearest(downsample_mean(images, f), f);
  }
  if (!masks.defined() || masks.dim() != 4 || masks.size(0) != n || masks.size(1) != 1 ||
      masks.size(2) != h || masks.size(3) != w || masks.dtype() != DType::f32 ||
      masks.device() != Device::cpu)
    throw std::invalid_argument("make_condition: inpainting needs f32 cpu masks [" + std::to_string(n) +
                                ", 1, " + std::to_string(h) + ", " + std::to_string(w) + "], got " +
                                (masks.defined() ? masks.desc() : std::string("none")));
  Tensor out = Tensor::empty({n, c + 1, h, w});
  const float* x = images.data<float>();
  const float* m = masks.data<float>();
  float* o = out.data<float>();
  const int64_t plane = h * w;
  for (int64_t i = 0; i < n; ++i) {
    const float* mi = m + i * plane;
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* xi = x + (i * c + ch) * plane;
      float* oi = o + (i * (c + 1) + ch) * plane;
      for (int64_t p = 0; p < plane; ++p) oi[p] = mi[p] != 0.0f ? 0.0f : xi[p];
    }
    std::copy_n(mi, plane, o + (i * (c + 1) + c) * plane);
  }
  return out;
}

DenoiseFn conditioned_model(nn::UNet& model, const Tensor& cond) {
  if (model.config().cond_channels == 0)
    throw std::invalid_argument("conditioned_model: the model takes no condition image");
  if (cond.dim() != 4 || cond.size(1) != model.config().cond_channels)
    throw std::invalid_argument("conditioned_model: the condition must be [N, " +
                                std::to_string(model.config().cond_channels) + ", H, W], got " + cond.desc());
  return [&model, cond, on_device = Tensor()](const Tensor& x, const Tensor& t) mutable {
    if (!on_device.defined() || on_device.device() != x.device() || on_device.dtype() != x.dtype())
      on_device = cond.to(x.dtype()).to(x.device());
    return model.forward(x, t, {}, on_device);
  };
}

Tensor condition_picture(const TrainConfig& cfg, const Tensor& cond) {
  require_host_images("condition_picture", cond);
  if (cfg.task == ImageTask::superres) return cond;
  const int64_t n = cond.size(0), c = cond.size(1) - 1, plane = cond.size(2) * cond.size(3);
  Tensor out = Tensor::empty({n, c, cond.size(2), cond.size(3)});
  for (int64_t i = 0; i < n; ++i)
    std::copy_n(cond.data<float>() + i * (c + 1) * plane, c * plane, out.data<float>() + i * c * plane);
  return out;
}

Tensor completion_panels(const TrainConfig& cfg, const Tensor& cond, const Tensor& samples,
                         const Tensor& originals) {
  require_host_images("completion_panels", samples);
  const Tensor pic = condition_picture(cfg, cond);
  if (pic.shape() != samples.shape() || (originals.defined() && originals.shape() != samples.shape()))
    throw std::invalid_argument(
        "completion_panels: condition " + cond.desc() + ", samples " + samples.desc() +
        (originals.defined() ? ", originals " + originals.desc() : std::string()) + " do not match");
  const int64_t n = samples.size(0), per = samples.numel() / std::max<int64_t>(1, n);
  const int64_t k = completion_panel_width(originals.defined());
  Tensor out = Tensor::empty({n * k, samples.size(1), samples.size(2), samples.size(3)});
  for (int64_t i = 0; i < n; ++i) {
    float* d = out.data<float>() + i * k * per;
    std::copy_n(pic.data<float>() + i * per, per, d);
    std::copy_n(samples.data<float>() + i * per, per, d + per);
    if (k == 3) std::copy_n(originals.data<float>() + i * per, per, d + 2 * per);
  }
  return out;
}

CompletionError completion_error(const TrainConfig& cfg, const Tensor& samples, const Tensor& cond,
                                 const Tensor& originals, const CropBox& crop) {
  require_host_images("completion_error", samples);
  require_host_images("completion_error", cond);
  const int64_t n = samples.size(0), c = samples.size(1), h = samples.size(2), w = samples.size(3);
  if (cond.size(0) != n || cond.size(1) != condition_channels(cfg.task, c) || cond.size(2) != h ||
      cond.size(3) != w)
    throw std::invalid_argument("completion_error: condition " + cond.desc() + " does not fit samples " +
                                samples.desc());
  if (originals.defined() && originals.shape() != samples.shape())
    throw std::invalid_argument("completion_error: originals " + originals.desc() + " do not fit samples " +
                                samples.desc());
  auto rms = [](double sum, int64_t count) {
    return count > 0 ? std::sqrt(sum / static_cast<double>(count)) : std::numeric_limits<double>::quiet_NaN();
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CompletionError e{nan, nan, nan};
  const float* s = samples.data<float>();
  const float* o = originals.defined() ? originals.data<float>() : nullptr;
  // Whether pixel p of a plane lies inside the crop.
  auto counted = [&](int64_t p) {
    if (crop.empty()) return true;
    const int64_t y = p / w, x = p % w;
    return y >= crop.top && y < crop.top + crop.height && x >= crop.left && x < crop.left + crop.width;
  };
  if (cfg.task == ImageTask::superres) {
    const int64_t f = superres_factor(cfg, h);
    const Tensor low_s = downsample_mean(samples, f), low_c = downsample_mean(cond, f);
    double kept = 0;
    for (int64_t i = 0; i < low_s.numel(); ++i) {
      const double d = low_s.data<float>()[i] - low_c.data<float>()[i];
      kept += d * d;
    }
    e.kept = rms(kept, low_s.numel());
    if (o) {
      double orig = 0, base = 0;
      int64_t count = 0;
      for (int64_t i = 0; i < samples.numel(); ++i) {
        if (!counted(i % (h * w))) continue;
        const double d = s[i] - o[i], b = cond.data<float>()[i] - o[i];
        orig += d * d;
        base += b * b;
        ++count;
      }
      e.original = rms(orig, count);
      e.baseline = rms(base, count);
    }
    return e;
  }
  const int64_t plane = h * w;
  double kept = 0, orig = 0, base = 0;
  int64_t n_kept = 0, n_box = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* m = cond.data<float>() + (i * (c + 1) + c) * plane;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < plane; ++p) {
        if (!counted(p)) continue;
        const int64_t at = (i * c + ch) * plane + p;
        if (m[p] != 0.0f) {
          ++n_box;
          if (o) {
            orig += (s[at] - o[at]) * static_cast<double>(s[at] - o[at]);
            base += static_cast<double>(o[at]) * o[at];
          }
        } else {
          const double d = s[at] - cond.data<float>()[(i * (c + 1) + ch) * plane + p];
          kept += d * d;
          ++n_kept;
        }
      }
  }
  e.kept = rms(kept, n_kept);
  if (o) {
    e.original = rms(orig, n_box);
    e.baseline = rms(base, n_box);
  }
  return e;
}

}  // namespace ddpm
