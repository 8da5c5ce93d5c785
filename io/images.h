// Pictures out of the engine: image grids, strips and the loss curve as PNG.
//
// Pixel values: model space is [-1, 1]; a value v becomes the byte
// round((clamp(v, -1, 1) + 1) * 127.5), the inverse of the data loader's
// x / 127.5 - 1, so a loaded image written back gives the original bytes.
// NaN becomes 0 (black) so a diverged sample still produces a picture.
//
// Layout: tensors are [N, C, H, W] (f32 or f64, any device; copied to the
// host), C = 1 (grayscale PNG) or 3 (RGB PNG). A grid places image i at row
// i / nrow, column i % nrow, every image surrounded by `padding` pixels of
// `pad_value` (as in torchvision's make_grid: total width is
// ncol * (W + padding) + padding). Cells of an unfilled last row stay pad_value.
//
// Every PNG is encoded in memory (stbi_write_png_to_func) and written with
// write_file_atomic, so a viewer polling the file never sees half a picture.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm {

// A rectangle inside each image (e.g. the 28x28 original inside a 32x32
// padded Fashion-MNIST image). Empty (height or width 0) means "no crop".
struct CropBox {
  int64_t top = 0;
  int64_t left = 0;
  int64_t height = 0;
  int64_t width = 0;
  bool empty() const { return height <= 0 || width <= 0; }
};

struct GridOptions {
  int64_t nrow = 8;        // images per row (write_image_strip sets it itself)
  int64_t padding = 2;     // pixels between and around images
  float pad_value = 1.0f;  // in [-1, 1]; 1 is white
  CropBox crop;            // applied to every image before placing it
};

// 8-bit pixels, row-major, channels interleaved (HWC).
struct Raster {
  int64_t width = 0;
  int64_t height = 0;
  int64_t channels = 0;  // 1 or 3
  std::vector<uint8_t> pixels;
  uint8_t* at(int64_t y, int64_t x) { return pixels.data() + (y * width + x) * channels; }
  const uint8_t* at(int64_t y, int64_t x) const { return pixels.data() + (y * width + x) * channels; }
};

// [-1, 1] -> byte as described above.
uint8_t pixel_byte(float v);

// The grid of an [N, C, H, W] tensor; throws std::invalid_argument naming the
// tensor when the shape, channels, crop or options are wrong.
Raster make_grid(const Tensor& images, const GridOptions& options = {});
// PNG bytes of a raster (throws std::runtime_error if encoding fails).
std::string encode_png(const Raster& raster);
void write_png(const std::string& path, const Raster& raster);

void write_image_grid(const std::string& path, const Tensor& images, const GridOptions& options = {});
// One image: [C, H, W] or [1, C, H, W], no padding.
void write_image(const std::string& path, const Tensor& image, const CropBox& crop = {});
// frames[k] is [N, C, H, W] (all the same shape): row i shows image i across
// the frames, left to right (the forward-process picture: frames at t = 0,
// 250, ...; sampler progression: snapshots of x_t as t falls).
Raster make_strip(const std::vector<Tensor>& frames, const GridOptions& options = {});
void write_image_strip(const std::string& path, const std::vector<Tensor>& frames,
                       const GridOptions& options = {});

// Loss curve: raw loss (light) and its trailing moving average (dark) against
// the step, on a log10 y-axis when every finite loss is positive (linear
// otherwise); axes, grid lines, tick labels, an optional title with a legend
// and an x-axis label in a built-in 3x5 pixel font. Non-finite losses are
// skipped.
struct PlotOptions {
  int64_t width = 800;
  int64_t height = 400;
  int64_t smooth_window = 50;  // points in the moving average; <= 1 disables it
  bool log_y = true;
  std::string title;                 // drawn top left in capitals; empty: none
  bool legend = true;                // with a title: which curve is which, top right
  std::string x_label = "step";      // under the x axis; empty: none
  std::string series = "each step";  // the legend's name of the raw curve
  bool markers = false;              // a small square at every point (for few points)
  // The x range; NaN: the data's. Two panels over the same steps share it.
  double x_min = std::numeric_limits<double>::quiet_NaN();
  double x_max = std::numeric_limits<double>::quiet_NaN();
};
Raster render_loss_plot(const std::vector<double>& steps, const std::vector<double>& losses,
                        const PlotOptions& options = {});
void write_loss_plot(const std::string& path, const std::vector<double>& steps,
                     const std::vector<double>& losses, const PlotOptions& options = {});
// Rasters one below the other, left-aligned on a white canvas as wide as the
// widest; a grey raster is widened to RGB when any other is RGB.
Raster stack_vertically(const std::vector<Raster>& parts);

}  // namespace ddpm
