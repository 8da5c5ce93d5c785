// PNG grids, strips, single images and the loss plot (io/images.h),
// read back with stb_image.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <limits>

#include "io/atomic_file.h"
#include "io/images.h"
#include "tests/io_util.h"

using namespace ddpm;
using ddpm::test::check_contains;
using ddpm::test::error_message;
using ddpm::test::TempDir;

namespace {

struct Decoded {
  int w = 0, h = 0, comp = 0;
  std::vector<uint8_t> px;
  uint8_t at(int y, int x, int c = 0) const { return px[static_cast<size_t>((y * w + x) * comp + c)]; }
};

Decoded decode(const std::string& path) {
  const std::string raw = read_file(path);
  Decoded d;
  stbi_uc* p = stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(raw.data()),
                                     static_cast<int>(raw.size()), &d.w, &d.h, &d.comp, 0);
  REQUIRE_MESSAGE(p != nullptr, "stb_image cannot read " << path);
  d.px.assign(p, p + static_cast<size_t>(d.w) * static_cast<size_t>(d.h) * static_cast<size_t>(d.comp));
  stbi_image_free(p);
  return d;
}

// [n, c, h, w] where image i, channel ch, pixel (y, x) has value f(i, ch, y, x).
template <class F>
Tensor images(int64_t n, int64_t c, int64_t h, int64_t w, F f) {
  std::vector<float> v;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) v.push_back(f(i, ch, y, x));
  return Tensor::from_vector(v, {n, c, h, w});
}

}  // namespace

TEST_CASE("io: pixel_byte maps [-1, 1] to 0..255, clamping, NaN to 0") {
  CHECK(pixel_byte(-1.0f) == 0);
  CHECK(pixel_byte(1.0f) == 255);
  CHECK(pixel_byte(0.0f) == 128);  // 127.5 rounds half away from zero
  CHECK(pixel_byte(-5.0f) == 0);
  CHECK(pixel_byte(7.0f) == 255);
  CHECK(pixel_byte(std::numeric_limits<float>::quiet_NaN()) == 0);
  CHECK(pixel_byte(std::numeric_limits<float>::infinity()) == 255);
  for (int b = 0; b < 256; ++b) CHECK(pixel_byte(static_cast<float>(b) / 127.5f - 1.0f) == b);
}

TEST_CASE("io: a grid PNG has torchvision's layout and the right pixels") {
  TempDir dir;
  // Image i is a constant gray level (i - 2) / 2 -> bytes 0, 64, 128, 191, 255.
  const Tensor x = images(
      5, 1, 3, 4, [](int64_t i, int64_t, int64_t, int64_t) { return static_cast<float>(i - 2) / 2.0f; });
  GridOptions opt;
  opt.nrow = 2;
  opt.padding = 1;
  opt.pad_value = 1.0f;
  const std::string path = dir.file("grid.png");
  write_image_grid(path, x, opt);
  const Decoded d = decode(path);
  CHECK(d.w == 2 * (4 + 1) + 1);
  CHECK(d.h == 3 * (3 + 1) + 1);
  CHECK(d.comp == 1);
  CHECK(d.at(0, 0) == 255);  // padding
  CHECK(d.at(1, 1) == 0);    // image 0
  CHECK(d.at(3, 4) == 0);    // image 0, bottom right
  CHECK(d.at(1, 5) == 255);  // padding between columns
  CHECK(d.at(1, 6) == 64);   // image 1
  CHECK(d.at(5, 1) == 128);  // image 2 (second row)
  CHECK(d.at(5, 6) == 191);  // image 3
  CHECK(d.at(9, 1) == 255);  // image 4
  CHECK(d.at(9, 6) == 255);  // empty cell: pad value
  CHECK(dir.list() == std::vector<std::string>{"grid.png"});

  // f64 input, black padding.
  opt.pad_value = -1.0f;
  write_image_grid(path, x.to(DType::f64), opt);
  CHECK(decode(path).at(0, 0) == 0);
  CHECK(decode(path).at(5, 6) == 191);
}

TEST_CASE("io: grids of RGB images, and cropping back to the original size") {
  TempDir dir;
  // Channel ch of every image is constant: R = 1, G = -1, B = 0; inside a
  // 1-pixel border of -0.5 that the crop removes.
  const Tensor x = images(3, 3, 5, 6, [](int64_t, int64_t ch, int64_t y, int64_t xx) {
    if (y == 0 || y == 4 || xx == 0 || xx == 5) return -0.5f;
    return ch == 0 ? 1.0f : ch == 1 ? -1.0f : 0.0f;
  });
  GridOptions opt;
  opt.nrow = 3;
  opt.padding = 2;
  opt.crop = CropBox{1, 1, 3, 4};
  const std::string path = dir.file("rgb.png");
  write_image_grid(path, x, opt);
  const Decoded d = decode(path);
  CHECK(d.comp == 3);
  CHECK(d.w == 3 * (4 + 2) + 2);
  CHECK(d.h == 1 * (3 + 2) + 2);
  for (int y = 2; y < 5; ++y)
    for (int xx : {2, 5, 8, 11, 14, 17}) {  // first and last column of each image
      CHECK(d.at(y, xx, 0) == 255);
      CHECK(d.at(y, xx, 1) == 0);
      CHECK(d.at(y, xx, 2) == 128);
    }
  CHECK(d.at(1, 2, 0) == 255);  // padding row is white in every channel
  CHECK(d.at(1, 2, 1) == 255);
  CHECK(d.at(3, 13, 1) == 255);  // padding column between images 1 and 2
  CHECK(d.at(3, 19, 1) == 255);  // right border

  opt.crop = CropBox{2, 0, 4, 6};
  check_contains(error_message<std::invalid_argument>([&] { make_grid(x, opt); }),
                 {"Tensor[3, 3, 5, 6]", "crop", "does not fit in 5x6"});
  check_contains(error_message<std::invalid_argument>([&] {
                   make_grid(Tensor::zeros({2, 2, 4, 4}));
                 }),
                 {"Tensor[2, 2, 4, 4]", "2 channels, expected 1 (gray) or 3 (RGB)"});
  check_contains(error_message<std::invalid_argument>([&] {
                   make_grid(Tensor::zeros({4, 4}));
                 }),
                 {"Tensor[4, 4]", "expected [N, C, H, W]"});
}

TEST_CASE("io: write_image and write_image_strip") {
  TempDir dir;
  const Tensor one = images(
      1, 1, 2, 3, [](int64_t, int64_t, int64_t y, int64_t x) { return y == 1 && x == 2 ? 1.0f : -1.0f; });
  write_image(dir.file("one.png"), one.view({1, 2, 3}));
  const Decoded d = decode(dir.file("one.png"));
  CHECK((d.w == 3 && d.h == 2 && d.comp == 1));
  CHECK(d.at(1, 2) == 255);
  CHECK(d.at(0, 0) == 0);
  check_contains(error_message<std::invalid_argument>([&] {
                   write_image(dir.file("x.png"), Tensor::zeros({2, 1, 2, 2}));
                 }),
                 {"Tensor[2, 1, 2, 2]", "expected [C, H, W] or [1, C, H, W]"});

  // 3 frames of 2 images: row i is image i, column k is frame k.
  std::vector<Tensor> frames;
  for (int k = 0; k < 3; ++k)
    frames.push_back(images(2, 1, 2, 2, [k](int64_t i, int64_t, int64_t, int64_t) {
      return static_cast<float>(k) * 0.5f - static_cast<float>(i);  // bytes: i=0: 128,191,255; i=1: 0,64,128
    }));
  GridOptions opt;
  opt.padding = 1;
  write_image_strip(dir.file("strip.png"), frames, opt);
  const Decoded s = decode(dir.file("strip.png"));
  CHECK(s.w == 3 * 3 + 1);
  CHECK(s.h == 2 * 3 + 1);
  const int row0 = 1, row1 = 4;
  CHECK(s.at(row0, 1) == 128);
  CHECK(s.at(row0, 4) == 191);
  CHECK(s.at(row0, 7) == 255);
  CHECK(s.at(row1, 1) == 0);
  CHECK(s.at(row1, 4) == 64);
  CHECK(s.at(row1, 7) == 128);
  frames.push_back(Tensor::zeros({3, 1, 2, 2}));
  check_contains(error_message<std::invalid_argument>([&] { make_strip(frames); }),
                 {"Tensor[3, 1, 2, 2]", "expected the shape of the first frame [2, 1, 2, 2]"});
}

TEST_CASE("io: the loss plot is an RGB PNG with axes and both curves") {
  TempDir dir;
  std::vector<double> steps, losses;
  for (int i = 0; i < 500; ++i) {
    steps.push_back(i);
    losses.push_back(1.0 / (1.0 + 0.05 * i) + ((i % 2) ? 0.02 : -0.02));
  }
  losses[100] = std::numeric_limits<double>::quiet_NaN();  // skipped, not fatal
  PlotOptions opt;
  opt.width = 400;
  opt.height = 200;
  opt.smooth_window = 20;
  const std::string path = dir.file("loss.png");
  write_loss_plot(path, steps, losses, opt);
  const Decoded d = decode(path);
  CHECK((d.w == 400 && d.h == 200 && d.comp == 3));
  int black = 0, light = 0, dark = 0;
  for (int y = 0; y < d.h; ++y)
    for (int x = 0; x < d.w; ++x) {
      const int r = d.at(y, x, 0), g = d.at(y, x, 1), b = d.at(y, x, 2);
      black += r == 0 && g == 0 && b == 0;
      light += r == 160 && g == 185 && b == 230;
      dark += r == 20 && g == 50 && b == 150;
    }
  // The axes are 163 + 317 black pixels at this size (margins are fixed in
  // render_loss_plot); the curves may cover a few where they start.
  CHECK(black > 450);
  CHECK(light > 100);
  CHECK(dark > 100);
  CHECK(d.at(0, d.w - 1, 0) == 255);  // background

  // A title (top band, the ink colour) and a legend in the curves' colours;
  // the x-axis label sits in the bottom band.
  auto count_in_rows = [](const Raster& r, int64_t y0, int64_t y1, int cr, int cg, int cb) {
    int n = 0;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = 0; x < r.width; ++x) {
        const size_t i = static_cast<size_t>((y * r.width + x) * 3);
        n += r.pixels[i] == cr && r.pixels[i + 1] == cg && r.pixels[i + 2] == cb;
      }
    return n;
  };
  PlotOptions titled = opt;
  titled.title = "loss";
  const Raster with = render_loss_plot(steps, losses, titled);
  CHECK(count_in_rows(with, 0, 20, 60, 60, 60) > 20);                          // "LOSS"
  CHECK(count_in_rows(with, 0, 20, 160, 185, 230) > 20);                       // "EACH STEP"
  CHECK(count_in_rows(with, 0, 20, 20, 50, 150) > 20);                         // "MEAN OF LAST 20"
  CHECK(count_in_rows(with, with.height - 20, with.height, 60, 60, 60) > 20);  // "STEP"
  const Raster without = render_loss_plot(steps, losses, opt);
  CHECK(count_in_rows(without, 0, 7, 60, 60, 60) == 0);  // tick labels start lower

  // Linear scale for non-positive losses; empty input still draws axes.
  losses[0] = -1.0;
  CHECK(render_loss_plot(steps, losses, opt).width == 400);
  CHECK(render_loss_plot({}, {}, opt).height == 200);
  check_contains(error_message<std::invalid_argument>([&] {
                   render_loss_plot({1, 2}, {1}, opt);
                 }),
                 {"2 steps but 1 losses"});
}
