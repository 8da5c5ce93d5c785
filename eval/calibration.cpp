#include "eval/calibration.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "io/data.h"
#include "tensor/philox.h"

namespace ddpm::eval {

namespace {

// Philox stream of the noise images ("NOIS").
constexpr uint64_t kNoiseStream = 0x4e4f4953ull << 32;

std::string sigma_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

}  // namespace

Tensor gaussian_blur(const Tensor& images, double sigma) {
  if (images.dim() != 4 || images.dtype() != DType::f32)
    throw std::invalid_argument("gaussian_blur: expected f32 images [N, C, H, W], got " +
                                shape_str(images.shape()));
  if (!(sigma >= 0))
    throw std::invalid_argument("gaussian_blur: sigma " + sigma_text(sigma) + " is negative");
  const Tensor src = images.to(Device::cpu);
  Tensor out = Tensor::empty(src.shape());
  const int64_t planes = src.size(0) * src.size(1), h = src.size(2), w = src.size(3);
  const float* in = src.data<float>();
  float* o = out.data<float>();
  if (sigma == 0) {
    std::copy_n(in, src.numel(), o);
    return out;
  }
  const int64_t r = static_cast<int64_t>(std::ceil(3 * sigma));
  std::vector<double> k(static_cast<size_t>(2 * r + 1));
  double total = 0;
  for (int64_t i = -r; i <= r; ++i) {
    const double d = static_cast<double>(i);
    total += k[static_cast<size_t>(i + r)] = std::exp(-0.5 * d * d / (sigma * sigma));
  }
  for (double& v : k) v /= total;
  std::vector<double> tmp(static_cast<size_t>(h * w));
  for (int64_t p = 0; p < planes; ++p) {
    const float* a = in + p * h * w;
    for (int64_t y = 0; y < h; ++y)  // rows
      for (int64_t x = 0; x < w; ++x) {
        double s = 0;
        for (int64_t i = -r; i <= r; ++i)
          s += k[static_cast<size_t>(i + r)] * a[y * w + std::clamp(x + i, int64_t{0}, w - 1)];
        tmp[static_cast<size_t>(y * w + x)] = s;
      }
    float* b = o + p * h * w;
    for (int64_t y = 0; y < h; ++y)  // columns
      for (int64_t x = 0; x < w; ++x) {
        double s = 0;
        for (int64_t i = -r; i <= r; ++i)
          s += k[static_cast<size_t>(i + r)] *
               tmp[static_cast<size_t>(std::clamp(y + i, int64_t{0}, h - 1) * w + x)];
        b[y * w + x] = static_cast<float>(s);
      }
  }
  return out;
}

Tensor uniform_noise_images(int64_t n, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Tensor out = Tensor::empty({n, c, h, w});
  float* o = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i)
    o[i] = static_cast<float>(2 * philox::uniform(seed, kNoiseStream, static_cast<uint64_t>(i)) - 1);
  return out;
}

std::vector<CalibrationRow> calibrate(const LoadedClassifier& c, const ReferenceSet& ref,
                                      const std::string& data, int64_t n, uint64_t seed) {
  if (n < 2) throw std::invalid_argument("calibrate: needs at least 2 images, got " + std::to_string(n));
  ImageDataset train;
  try {
    train = resolve_dataset(data, "train", 0);
  } catch (const std::exception& e) {
    throw std::invalid_argument("calibration needs the train split of '" + data + "': " + e.what());
  }
  if (train.labels.empty())
    throw std::invalid_argument(
        "calibration needs a data set with a train split (fashion-mnist or a folder of "
        "IDX files); '" +
        data + "' is a PNG folder");
  if (train.channels() != c.channels || train.height() != c.height || train.width() != c.width)
    throw std::invalid_argument("calibration: '" + data + "' train images are " +
                                shape_str(train.images.shape()) + "; the classifier takes " +
                                std::to_string(c.channels) + "x" + std::to_string(c.height) + "x" +
                                std::to_string(c.width));
  const std::vector<int64_t> pick = reference_subset(train.size(), n, seed);
  const int64_t m = static_cast<int64_t>(pick.size()), per = c.channels * c.height * c.width;
  Tensor real = Tensor::empty({m, c.channels, c.height, c.width});
  for (int64_t i = 0; i < m; ++i)
    std::copy_n(train.images.data<float>() + pick[static_cast<size_t>(i)] * per, per,
                real.data<float>() + i * per);

  std::vector<CalibrationRow> rows;
  auto score = [&](const std::string& what, const Tensor& images) {
    rows.push_back({what, score_outputs(classify(c, images), ref, seed)});
  };
  score("train images", real);
  for (double s : {0.5, 1.0, 2.0}) score("train images, blur sigma " + sigma_text(s), gaussian_blur(real, s));
  score("uniform noise", uniform_noise_images(m, c.channels, c.height, c.width, seed));
  return rows;
}

}  // namespace ddpm::eval
