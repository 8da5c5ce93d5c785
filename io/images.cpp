#include "io/images.h"

#include <stb/stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "io/atomic_file.h"

namespace ddpm {

namespace {

// Places n images of [c, h, w] floats (cells[i] points at image i) into a
// grid with ncol columns.
Raster compose(const std::vector<const float*>& cells, int64_t c, int64_t h, int64_t w, int64_t ncol,
               const GridOptions& opt, const std::string& what) {
  if (c != 1 && c != 3)
    throw std::invalid_argument(what + ": " + std::to_string(c) + " channels, expected 1 (gray) or 3 (RGB)");
  if (opt.padding < 0 || opt.nrow < 1)
    throw std::invalid_argument(what + ": nrow " + std::to_string(opt.nrow) + ", padding " +
                                std::to_string(opt.padding) + ", expected nrow >= 1 and padding >= 0");
  CropBox cr = opt.crop.empty() ? CropBox{0, 0, h, w} : opt.crop;
  if (cr.top < 0 || cr.left < 0 || cr.top + cr.height > h || cr.left + cr.width > w)
    throw std::invalid_argument(what + ": crop (top " + std::to_string(cr.top) + ", left " +
                                std::to_string(cr.left) + ", " + std::to_string(cr.height) + "x" +
                                std::to_string(cr.width) + ") does not fit in " + std::to_string(h) + "x" +
                                std::to_string(w) + " images");
  const auto n = static_cast<int64_t>(cells.size());
  if (n == 0) throw std::invalid_argument(what + ": no images");
  ncol = std::min(ncol, n);
  const int64_t nrows = (n + ncol - 1) / ncol;
  const int64_t pad = opt.padding;
  Raster r;
  r.channels = c;
  r.width = ncol * (cr.width + pad) + pad;
  r.height = nrows * (cr.height + pad) + pad;
  if (r.width > INT_MAX / 4 || r.height > INT_MAX / 4 || r.width * r.height > (int64_t{1} << 31))
    throw std::invalid_argument(what + ": a " + std::to_string(r.width) + "x" + std::to_string(r.height) +
                                " picture is too large");
  r.pixels.assign(static_cast<size_t>(r.width * r.height * c), pixel_byte(opt.pad_value));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t oy = (i / ncol) * (cr.height + pad) + pad, ox = (i % ncol) * (cr.width + pad) + pad;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < cr.height; ++y)
        for (int64_t x = 0; x < cr.width; ++x)
          r.at(oy + y, ox + x)[ch] =
              pixel_byte(cells[static_cast<size_t>(i)][(ch * h + y + cr.top) * w + x + cr.left]);
  }
  return r;
}

void check_nchw(const Tensor& t, const char* op) {
  check_defined(t, op, "images");
  if (t.dim() != 4)
    throw std::invalid_argument(std::string(op) + ": images " + t.desc() + ", expected [N, C, H, W]");
}

// ---- loss plot drawing ----

struct Rgb {
  uint8_t r, g, b;
};

void put(Raster& img, int64_t x, int64_t y, Rgb c) {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  uint8_t* p = img.at(y, x);
  p[0] = c.r;
  p[1] = c.g;
  p[2] = c.b;
}

// Bresenham; pixels outside the raster are dropped.
void line(Raster& img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb c) {
  const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int64_t sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int64_t err = dx + dy;
  for (;;) {
    put(img, x0, y0, c);
    if (x0 == x1 && y0 == y1) return;
    const int64_t e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

// 3x5 glyphs, one row per 3-bit number (bit 2 is the left pixel).
struct Glyph {
  char ch;
  uint8_t rows[5];
};
constexpr Glyph kFont[] = {
    {'0', {7, 5, 5, 5, 7}},
    {'1', {2, 6, 2, 2, 7}},
    {'2', {7, 1, 7, 4, 7}},
    {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}},
    {'5', {7, 4, 7, 1, 7}},
    {'6', {7, 4, 7, 5, 7}},
    {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 7}},
    {'.', {0, 0, 0, 0, 2}},
    {'-', {0, 0, 7, 0, 0}},
    {'+', {0, 2, 7, 2, 0}},
    {'e', {2, 5, 7, 4, 3}},
    // Capitals and punctuation for captions (caption() upper-cases).
    {'A', {7, 5, 7, 5, 5}},
    {'B', {6, 5, 6, 5, 6}},
    {'C', {7, 4, 4, 4, 7}},
    {'D', {6, 5, 5, 5, 6}},
    {'E', {7, 4, 7, 4, 7}},
    {'F', {7, 4, 7, 4, 4}},
    {'G', {7, 4, 5, 5, 7}},
    {'H', {5, 5, 7, 5, 5}},
    {'I', {7, 2, 2, 2, 7}},
    {'J', {1, 1, 1, 5, 7}},
    {'K', {5, 5, 6, 5, 5}},
    {'L', {4, 4, 4, 4, 7}},
    {'M', {5, 7, 7, 5, 5}},
    {'N', {6, 5, 5, 5, 5}},
    {'O', {7, 5, 5, 5, 7}},
    {'P', {7, 5, 7, 4, 4}},
    {'Q', {7, 5, 5, 7, 1}},
    {'R', {6, 5, 6, 5, 5}},
    {'S', {3, 4, 2, 1, 6}},
    {'T', {7, 2, 2, 2, 2}},
    {'U', {5, 5, 5, 5, 7}},
    {'V', {5, 5, 5, 5, 2}},
    {'W', {5, 5, 7, 7, 5}},
    {'X', {5, 5, 2, 5, 5}},
    {'Y', {5, 5, 2, 2, 2}},
    {'Z', {7, 1, 2, 4, 7}},
    {'(', {1, 2, 2, 2, 1}},
    {')', {4, 2, 2, 2, 4}},
    {',', {0, 0, 0, 2, 4}},
    {':', {0, 2, 0, 2, 0}},
    {'/', {1, 1, 2, 4, 4}},
    {'=', {0, 7, 0, 7, 0}},
};
constexpr int64_t kScale = 2;             // each font pixel is 2x2
constexpr int64_t kAdvance = 4 * kScale;  // glyph width + 1 column gap
constexpr int64_t kGlyphHeight = 5 * kScale;

void text(Raster& img, int64_t x, int64_t y, const std::string& s, Rgb c) {
  for (char ch : s) {
    for (const Glyph& g : kFont) {
      if (g.ch != ch) continue;
      for (int64_t row = 0; row < 5; ++row)
        for (int64_t col = 0; col < 3; ++col)
          if (g.rows[row] & (4 >> col))
            for (int64_t dy = 0; dy < kScale; ++dy)
              for (int64_t dx = 0; dx < kScale; ++dx)
                put(img, x + col * kScale + dx, y + row * kScale + dy, c);
    }
    x += kAdvance;
  }
}

// Text in capitals (the font's lower case has only the exponent's 'e').
void caption(Raster& img, int64_t x, int64_t y, const std::string& s, Rgb c) {
  std::string up = s;
  for (char& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  text(img, x, y, up, c);
}

int64_t text_width(const std::string& s) { return static_cast<int64_t>(s.size()) * kAdvance; }

std::string label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Tick values ("nice" 1/2/5 x 10^k steps) covering [lo, hi] in linear space.
std::vector<double> linear_ticks(double lo, double hi) {
  std::vector<double> out;
  const double raw = (hi - lo) / 5.0;
  if (!(raw > 0) || !std::isfinite(raw)) return out;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9 * step; t += step)
    out.push_back(std::abs(t) < 1e-12 * step ? 0.0 : t);
  return out;
}

}  // namespace

uint8_t pixel_byte(float v) {
  if (std::isnan(v)) return 0;
  const float c = std::clamp(v, -1.0f, 1.0f);
  return static_cast<uint8_t>(std::lround((c + 1.0f) * 127.5f));
}

Raster make_grid(const Tensor& images, const GridOptions& options) {
  check_nchw(images, "make_grid");
  const std::vector<float> v = images.to_vector<float>();
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  std::vector<const float*> cells;
  for (int64_t i = 0; i < n; ++i) cells.push_back(v.data() + i * c * h * w);
  return compose(cells, c, h, w, options.nrow, options, "make_grid " + images.desc());
}

Raster make_strip(const std::vector<Tensor>& frames, const GridOptions& options) {
  if (frames.empty()) throw std::invalid_argument("make_strip: no frames");
  check_nchw(frames[0], "make_strip");
  const Shape shape = frames[0].shape();
  std::vector<std::vector<float>> data;
  for (const Tensor& f : frames) {
    check_nchw(f, "make_strip");
    if (f.shape() != shape)
      throw std::invalid_argument("make_strip: frame " + f.desc() +
                                  ", expected the shape of the first frame " + shape_str(shape));
    data.push_back(f.to_vector<float>());
  }
  const int64_t n = shape[0], c = shape[1], h = shape[2], w = shape[3];
  const auto k = static_cast<int64_t>(frames.size());
  std::vector<const float*> cells;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < k; ++j) cells.push_back(data[static_cast<size_t>(j)].data() + i * c * h * w);
  GridOptions opt = options;
  opt.nrow = k;
  return compose(cells, c, h, w, k, opt,
                 "make_strip " + frames[0].desc() + " x " + std::to_string(k) + " frames");
}

std::string encode_png(const Raster& raster) {
  if (raster.width < 1 || raster.height < 1 || raster.width > INT_MAX / 4 || raster.height > INT_MAX / 4 ||
      (raster.channels != 1 && raster.channels != 3 && raster.channels != 4) ||
      raster.pixels.size() != static_cast<size_t>(raster.width * raster.height * raster.channels))
    throw std::invalid_argument("encode_png: inconsistent raster " + std::to_string(raster.width) + "x" +
                                std::to_string(raster.height) + "x" + std::to_string(raster.channels) +
                                " with " + std::to_string(raster.pixels.size()) + " bytes");
  std::string out;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  const int w = static_cast<int>(raster.width), h = static_cast<int>(raster.height);
  const int comp = static_cast<int>(raster.channels);
  if (!stbi_write_png_to_func(sink, &out, w, h, comp, raster.pixels.data(), w * comp))
    throw std::runtime_error("encode_png: stb_image_write failed for a " + std::to_string(w) + "x" +
                             std::to_string(h) + " picture");
  return out;
}

void write_png(const std::string& path, const Raster& raster) { write_file_atomic(path, encode_png(raster)); }

void write_image_grid(const std::string& path, const Tensor& images, const GridOptions& options) {
  write_png(path, make_grid(images, options));
}

void write_image(const std::string& path, const Tensor& image, const CropBox& crop) {
  check_defined(image, "write_image", "image");
  Tensor t = image;
  if (t.dim() == 3) t = t.view({1, t.size(0), t.size(1), t.size(2)});
  if (t.dim() != 4 || t.size(0) != 1)
    throw std::invalid_argument("write_image: image " + image.desc() +
                                ", expected [C, H, W] or [1, C, H, W]");
  GridOptions opt;
  opt.nrow = 1;
  opt.padding = 0;
  opt.crop = crop;
  write_png(path, make_grid(t, opt));
}

void write_image_strip(const std::string& path, const std::vector<Tensor>& frames,
                       const GridOptions& options) {
  write_png(path, make_strip(frames, options));
}

Raster render_loss_plot(const std::vector<double>& steps, const std::vector<double>& losses,
                        const PlotOptions& options) {
  if (steps.size() != losses.size())
    throw std::invalid_argument("render_loss_plot: " + std::to_string(steps.size()) + " steps but " +
                                std::to_string(losses.size()) + " losses");
  if (options.width < 200 || options.height < 120 || options.width > 8192 || options.height > 8192)
    throw std::invalid_argument("render_loss_plot: size " + std::to_string(options.width) + "x" +
                                std::to_string(options.height) + ", expected 200..8192 x 120..8192");
  // Finite points only; log scale needs every loss positive.
  std::vector<double> xs, ys;
  for (size_t i = 0; i < steps.size(); ++i)
    if (std::isfinite(steps[i]) && std::isfinite(losses[i])) {
      xs.push_back(steps[i]);
      ys.push_back(losses[i]);
    }
  bool log_y = options.log_y && !ys.empty();
  for (double y : ys) log_y = log_y && y > 0;
  // Trailing moving average, in loss space.
  std::vector<double> avg;
  if (options.smooth_window > 1 && !ys.empty()) {
    double sum = 0;
    const auto win = static_cast<size_t>(options.smooth_window);
    for (size_t i = 0; i < ys.size(); ++i) {
      sum += ys[i];
      if (i >= win) sum -= ys[i - win];
      avg.push_back(sum / static_cast<double>(std::min(i + 1, win)));
    }
  }
  auto fy = [&](double v) { return log_y ? std::log10(v) : v; };

  Raster img;
  img.width = options.width;
  img.height = options.height;
  img.channels = 3;
  img.pixels.assign(static_cast<size_t>(img.width * img.height * 3), 255);
  const bool has_title = !options.title.empty(), has_xlabel = !options.x_label.empty();
  const int64_t left = 12 + 7 * kAdvance, right = img.width - 16;
  const int64_t top = has_title ? 12 + kGlyphHeight + 10 : 12;
  const int64_t bottom = img.height - 16 - kGlyphHeight - (has_xlabel ? kGlyphHeight + 8 : 0);

  double xlo = 0, xhi = 1, ylo = 0, yhi = 1;
  if (!xs.empty()) {
    xlo = *std::min_element(xs.begin(), xs.end());
    xhi = *std::max_element(xs.begin(), xs.end());
    ylo = fy(*std::min_element(ys.begin(), ys.end()));
    yhi = fy(*std::max_element(ys.begin(), ys.end()));
  }
  if (std::isfinite(options.x_min)) xlo = std::min(xlo, options.x_min);
  if (std::isfinite(options.x_max)) xhi = std::max(xhi, options.x_max);
  if (xhi - xlo <= 0) {
    xlo -= 0.5;
    xhi += 0.5;
  }
  if (yhi - ylo <= 1e-12 * std::max(1.0, std::abs(ylo))) {
    const double d = log_y ? 0.5 : std::max(std::abs(ylo) * 0.1, 1e-6);
    ylo -= d;
    yhi += d;
  } else {
    const double margin = (yhi - ylo) * 0.05;
    ylo -= margin;
    yhi += margin;
  }
  auto px = [&](double x) {
    return left +
           static_cast<int64_t>(std::lround((x - xlo) / (xhi - xlo) * static_cast<double>(right - left)));
  };
  auto py = [&](double ty) {
    return bottom -
           static_cast<int64_t>(std::lround((ty - ylo) / (yhi - ylo) * static_cast<double>(bottom - top)));
  };

  const Rgb grid{225, 225, 225}, axis{0, 0, 0}, ink{60, 60, 60}, raw{160, 185, 230}, smooth{20, 50, 150};
  // Horizontal grid lines and y labels.
  std::vector<std::pair<double, double>> yticks;  // (transformed position, value)
  if (log_y) {
    const bool fine = yhi - ylo < 2.0;
    for (double k = std::floor(ylo); k <= std::ceil(yhi); k += 1.0)
      for (double m : {1.0, 2.0, 5.0}) {
        if (m != 1.0 && !fine) continue;
        const double t = k + std::log10(m);
        if (t >= ylo && t <= yhi) yticks.emplace_back(t, m * std::pow(10.0, k));
      }
    // Less than one 1-2-5 step in range: plain linear ticks, placed on the log axis.
    if (yticks.size() < 2) {
      yticks.clear();
      for (double v : linear_ticks(std::pow(10.0, ylo), std::pow(10.0, yhi)))
        if (v > 0) yticks.emplace_back(std::log10(v), v);
    }
  } else {
    for (double t : linear_ticks(ylo, yhi)) yticks.emplace_back(t, t);
  }
  for (const auto& [t, v] : yticks) {
    const int64_t y = py(t);
    line(img, left, y, right, y, grid);
    const std::string s = label(v);
    text(img, left - 6 - static_cast<int64_t>(s.size()) * kAdvance, y - kGlyphHeight / 2, s, ink);
  }
  for (double t : linear_ticks(xlo, xhi)) {
    const int64_t x = px(t);
    line(img, x, top, x, bottom, grid);
    const std::string s = label(t);
    text(img, x - static_cast<int64_t>(s.size()) * kAdvance / 2, bottom + 6, s, ink);
  }
  line(img, left, top, left, bottom, axis);
  line(img, left, bottom, right, bottom, axis);

  auto polyline = [&](const std::vector<double>& vals, Rgb c) {
    for (size_t i = 0; i < vals.size(); ++i) {
      const int64_t x = px(xs[i]), y = py(fy(vals[i]));
      if (i == 0)
        put(img, x, y, c);
      else
        line(img, px(xs[i - 1]), py(fy(vals[i - 1])), x, y, c);
    }
  };
  polyline(ys, raw);
  polyline(avg, smooth);
  if (options.markers)
    for (size_t i = 0; i < ys.size(); ++i) {
      const int64_t x = px(xs[i]), y = py(fy(ys[i]));
      for (int64_t dy = -2; dy <= 2; ++dy)
        for (int64_t dx = -2; dx <= 2; ++dx) put(img, x + dx, y + dy, smooth);
    }

  // Title top left; the legend top right, each entry in its curve's colour.
  if (has_title) caption(img, left, 8, options.title, ink);
  if (has_title && options.legend) {
    std::vector<std::pair<std::string, Rgb>> entries{{options.series, options.markers ? smooth : raw}};
    if (!avg.empty()) entries.emplace_back("mean of last " + std::to_string(options.smooth_window), smooth);
    int64_t x = right;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
      x -= text_width(it->first);
      // Only when it clears the title; a narrow plot drops the legend.
      if (x > left + text_width(options.title) + 3 * kAdvance) caption(img, x, 8, it->first, it->second);
      x -= 3 * kAdvance;
    }
  }
  if (has_xlabel)
    caption(img, (left + right - text_width(options.x_label)) / 2, bottom + 6 + kGlyphHeight + 8,
            options.x_label, ink);
  return img;
}

void write_loss_plot(const std::string& path, const std::vector<double>& steps,
                     const std::vector<double>& losses, const PlotOptions& options) {
  write_png(path, render_loss_plot(steps, losses, options));
}

Raster stack_vertically(const std::vector<Raster>& parts) {
  Raster out;
  out.channels = 1;
  for (const Raster& r : parts) {
    if (r.channels != 1 && r.channels != 3)
      throw std::invalid_argument("stack_vertically: a raster with " + std::to_string(r.channels) +
                                  " channels, expected 1 or 3");
    out.width = std::max(out.width, r.width);
    out.height += r.height;
    out.channels = std::max(out.channels, r.channels);
  }
  out.pixels.assign(static_cast<size_t>(out.width * out.height * out.channels), 255);
  int64_t y0 = 0;
  for (const Raster& r : parts) {
    for (int64_t y = 0; y < r.height; ++y)
      for (int64_t x = 0; x < r.width; ++x)
        for (int64_t c = 0; c < out.channels; ++c) out.at(y0 + y, x)[c] = r.at(y, x)[r.channels == 1 ? 0 : c];
    y0 += r.height;
  }
  return out;
}

}  // namespace ddpm
