#include "io/data.h"

#include <stb/stb_image.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "io/atomic_file.h"
#include "tensor/philox.h"

namespace ddpm {

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension
constexpr uint64_t kMaxIdxBytes = uint64_t{8} << 30;
constexpr uint64_t kMaxPngFileBytes = uint64_t{256} << 20;
// Per image: 4096 x 4096, far above any image a diffusion model here trains on.
constexpr int64_t kMaxPngPixels = int64_t{1} << 24;

[[noreturn]] void idx_error(const std::string& path, const std::string& what) {
  throw std::runtime_error("IDX file '" + path + "': " + what);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// A gzFile that closes itself; reads gzip or (transparently) plain files.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path) {
    if (!fs::exists(path)) idx_error(path, "does not exist");
    errno = 0;
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) idx_error(path, std::string("cannot open: ") + std::strerror(errno ? errno : ENOMEM));
    // A 128 kB buffer for the data sets; small files need no more than 8 kB.
    std::error_code ec;
    const auto bytes = fs::file_size(path, ec);
    gzbuffer(f_, !ec && bytes < (uint64_t{1} << 16) ? 1u << 13 : 1u << 17);
  }
  ~GzReader() {
    if (f_) gzclose(f_);
  }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Appends up to n bytes to out; returns how many arrived. Throws on a
  // zlib error (corrupt data, bad CRC, truncated stream).
  uint64_t read(std::vector<uint8_t>& out, uint64_t n) {
    uint64_t got = 0;
    uint64_t step = uint64_t{1} << 16;
    while (got < n) {
      // Grow in steps of 64 kB doubling up to 1 MB, so a header that claims
      // more than the file holds costs at most one step beyond what is there
      // (a small file: 64 kB, not 1 MB zero-filled).
      const uint64_t chunk = std::min<uint64_t>(n - got, step);
      step = std::min<uint64_t>(step * 2, uint64_t{1} << 20);
      const size_t old = out.size();
      out.resize(old + chunk);
      const int r = gzread(f_, out.data() + old, static_cast<unsigned>(chunk));
      if (r < 0) {
        out.resize(old);
        check_error();
        idx_error(path_, "read error");
      }
      out.resize(old + static_cast<size_t>(r));
      got += static_cast<uint64_t>(r);
      if (r == 0) break;
    }
    if (got < n) check_error();
    return got;
  }

  void check_error() {
    int errnum = Z_OK;
    const char* msg = gzerror(f_, &errnum);
    if (errnum == Z_OK || errnum == Z_STREAM_END) return;
    if (errnum == Z_ERRNO) idx_error(path_, std::string("read error: ") + std::strerror(errno));
    idx_error(path_, std::string(errnum == Z_BUF_ERROR ? "truncated" : "corrupt") +
                         " gzip stream (zlib: " + (msg ? msg : "?") + ")");
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

struct IdxArray {
  std::vector<uint64_t> dims;
  std::vector<uint8_t> data;
};

std::string dims_str(const std::vector<uint64_t>& dims) {
  std::string s;
  for (uint64_t d : dims) {
    if (!s.empty()) s += " x ";
    s += std::to_string(d);
  }
  return s;
}

// Reads an unsigned-byte IDX file with the given magic (whose low byte is
// the number of dimensions); validates the byte count against the dims.
IdxArray read_idx(const std::string& path, uint32_t magic, const char* kind) {
  GzReader in(path);
  const size_t ndims = magic & 0xFF;
  std::vector<uint8_t> head;
  const uint64_t head_bytes = 4 + 4 * ndims;
  if (in.read(head, head_bytes) < 4)
    idx_error(path, "only " + std::to_string(head.size()) + " bytes, too short for the 4-byte magic number");
  const uint32_t found =
      (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  if (found != magic)
    idx_error(path, "magic number " + hex32(found) + ", expected " + hex32(magic) + " (" + kind + ")");
  if (head.size() < head_bytes)
    idx_error(path, "header ends after " + std::to_string(head.size()) + " bytes, expected " +
                        std::to_string(head_bytes) + " for " + std::to_string(ndims) + " dimensions");
  IdxArray a;
  uint64_t total = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint8_t* p = head.data() + 4 + 4 * i;
    const uint64_t d = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    if (d == 0) idx_error(path, "dimension " + std::to_string(i) + " is 0");
    a.dims.push_back(d);
    if (__builtin_mul_overflow(total, d, &total) || total > kMaxIdxBytes)
      idx_error(path, "dimensions " + dims_str(a.dims) + " exceed the limit of " +
                          std::to_string(kMaxIdxBytes) + " bytes");
  }
  const uint64_t got = in.read(a.data, total);
  if (got < total)
    idx_error(path, "data ends after " + std::to_string(got) + " bytes, expected " + std::to_string(total) +
                        " for dimensions " + dims_str(a.dims));
  std::vector<uint8_t> extra;
  if (in.read(extra, 1) != 0)
    idx_error(path, "has bytes beyond the " + std::to_string(total) + " that dimensions " + dims_str(a.dims) +
                        " account for");
  return a;
}

// Fills the [N, C, P_h, P_w] tensor from N images of [C, h, w] bytes,
// centred, background -1.
ImageDataset make_dataset(const std::vector<uint8_t>& bytes, int64_t n, int64_t c, int64_t h, int64_t w,
                          int64_t pad_to, std::string source) {
  if (pad_to < 0)
    throw std::invalid_argument("dataset: pad_to is " + std::to_string(pad_to) + ", expected >= 0");
  const int64_t ph = std::max(h, pad_to), pw = std::max(w, pad_to);
  ImageDataset ds;
  ds.orig_height = h;
  ds.orig_width = w;
  ds.pad_top = (ph - h) / 2;
  ds.pad_left = (pw - w) / 2;
  ds.source = std::move(source);
  ds.images = Tensor::full({n, c, ph, pw}, -1.0, DType::f32);
  float* dst = ds.images.data<float>();
  const uint8_t* src = bytes.data();
  for (int64_t i = 0; i < n * c; ++i) {
    float* plane = dst + i * ph * pw;
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        plane[(y + ds.pad_top) * pw + x + ds.pad_left] =
            static_cast<float>(src[(i * h + y) * w + x]) / 127.5f - 1.0f;
  }
  return ds;
}

bool is_png_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png";
}

// The split's file in dir, ".gz" first; "" when neither exists.
std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const std::string& name : {stem + ".gz", stem})
    if (fs::is_regular_file(fs::path(dir) / name)) return (fs::path(dir) / name).string();
  return "";
}

std::string split_prefix(const std::string& split) {
  if (split == "train") return "train";
  if (split == "test" || split == "t10k") return "t10k";
  throw std::invalid_argument("dataset split '" + split + "': expected 'train' or 'test'");
}

}  // namespace

ImageDataset load_idx_files(const std::string& images_path, const std::string& labels_path, int64_t pad_to) {
  const IdxArray img = read_idx(images_path, kIdxImagesMagic, "IDX unsigned-byte images, 3 dimensions");
  const IdxArray lab = read_idx(labels_path, kIdxLabelsMagic, "IDX unsigned-byte labels, 1 dimension");
  if (img.dims[0] != lab.dims[0])
    throw std::runtime_error("IDX files '" + images_path + "' and '" + labels_path +
                             "': " + std::to_string(img.dims[0]) + " images but " +
                             std::to_string(lab.dims[0]) + " labels, expected equal counts");
  for (size_t i = 0; i < lab.data.size(); ++i)
    if (lab.data[i] > 9)
      idx_error(labels_path, "label " + std::to_string(lab.data[i]) + " at index " + std::to_string(i) +
                                 ", expected 0..9");
  const auto n = static_cast<int64_t>(img.dims[0]);
  ImageDataset ds = make_dataset(img.data, n, 1, static_cast<int64_t>(img.dims[1]),
                                 static_cast<int64_t>(img.dims[2]), pad_to, images_path);
  ds.labels.assign(lab.data.begin(), lab.data.end());
  for (int k = 0; k < 10; ++k) ds.class_names.push_back(std::to_string(k));
  return ds;
}

ImageDataset load_idx_dataset(const std::string& dir, const std::string& split, int64_t pad_to) {
  const std::string prefix = split_prefix(split);
  const std::string images_stem = prefix + "-images-idx3-ubyte", labels_stem = prefix + "-labels-idx1-ubyte";
  const std::string images = find_idx(dir, images_stem), labels = find_idx(dir, labels_stem);
  if (images.empty() || labels.empty())
    throw std::runtime_error("IDX dataset '" + dir + "': missing " +
                             (images.empty() ? images_stem : labels_stem) + "(.gz) for split '" + split +
                             "'");
  ImageDataset ds = load_idx_files(images, labels, pad_to);
  ds.source = dir + " (" + split + ")";
  return ds;
}

namespace {

// The *.png entries of dir, sorted. A *.png that is not a readable file (a
// dangling link, a folder, a device) is an error, not something to skip: the
// data set would silently shrink.
std::vector<fs::path> png_files_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!is_png_name(e.path())) continue;
    std::error_code ec;
    if (!e.is_regular_file(ec))
      throw std::runtime_error("PNG file '" + e.path().string() + "': cannot read it: not a regular file" +
                               (e.is_symlink(ec) ? " (a link to a missing or non-regular file)" : ""));
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The PNG stream stb_image is given, after our own walk over its chunks
// (length, type, data, CRC) up to IEND:
// - a file without the PNG signature is refused (stb_image would also
//   decode JPEG, GIF, PSD, ... behind a .png name: more decoders to trust);
// - a chunk longer than the rest of the file is refused (stb_image sizes
//   its IDAT buffer from the declared length before reading the data, so a
//   100-byte file could make it allocate gigabytes; a fuzz finding);
// - zero-length IDAT chunks are dropped (legal and empty; stb_image copies a
//   first one with memcpy(NULL, ..., 0), undefined behaviour; a fuzz
//   finding).
// - a stream that ends before its IEND chunk is refused (truncated; a
//   chunk cut short after its type made stb_image copy a first, empty IDAT
//   all the same).
// Bytes after IEND go through as they are.
std::string checked_png_stream(const std::string& raw, const std::string& path) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (raw.size() < 8 || raw.compare(0, 8, kSignature, 8) != 0)
    throw std::runtime_error("PNG file '" + path + "': cannot decode (not a PNG: no PNG signature)");
  std::string out = raw.substr(0, 8);
  size_t at = 8;
  while (at + 12 <= raw.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(raw.data() + at);
    const uint64_t length = (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | p[3];
    const std::string type = raw.substr(at + 4, 4);
    if (length > raw.size() - at - 12) {
      std::string printable;
      for (const char ch : type) printable += ch >= 32 && ch < 127 ? ch : '?';
      throw std::runtime_error("PNG file '" + path + "': cannot decode (chunk '" + printable + "' at byte " +
                               std::to_string(at) + " declares " + std::to_string(length) +
                               " bytes, the file has " + std::to_string(raw.size() - at - 12) +
                               " left (truncated or corrupt)");
    }
    if (!(length == 0 && type == "IDAT")) out.append(raw, at, static_cast<size_t>(length) + 12);
    at += static_cast<size_t>(length) + 12;
    if (type == "IEND") {
      out.append(raw, at, std::string::npos);
      return out;
    }
  }
  throw std::runtime_error("PNG file '" + path + "': cannot decode (the file ends at byte " +
                           std::to_string(raw.size()) + " before its IEND chunk: truncated)");
}

// Decodes files into bytes (planar CHW per image, appended); every image must
// match the first one decoded (first_* are 0 until then).
struct PngDecoder {
  int first_w = 0, first_h = 0, first_c = 0;
  std::string first_file;
  std::vector<uint8_t> bytes;

  void decode(const std::vector<fs::path>& files) {
    for (const fs::path& file : files)
      decode_bytes(read_file(file.string(), kMaxPngFileBytes), file.string());
  }

  void decode_bytes(const std::string& file_bytes, const std::string& path) {
    if (file_bytes.size() > kMaxPngFileBytes)
      throw std::runtime_error("PNG file '" + path + "': " + std::to_string(file_bytes.size()) +
                               " bytes, more than the " + std::to_string(kMaxPngFileBytes) + " allowed");
    const std::string raw = checked_png_stream(file_bytes, path);
    int w = 0, h = 0, comp = 0;
    const auto* buf = reinterpret_cast<const stbi_uc*>(raw.data());
    // The header's size first: a small file can claim a huge image.
    if (stbi_info_from_memory(buf, static_cast<int>(raw.size()), &w, &h, &comp) &&
        (w < 1 || h < 1 || static_cast<int64_t>(w) * h > kMaxPngPixels))
      throw std::runtime_error("PNG file '" + path + "': " + std::to_string(w) + "x" + std::to_string(h) +
                               " pixels, expected 1.." + std::to_string(kMaxPngPixels) + " pixels per image");
    stbi_uc* px = stbi_load_from_memory(buf, static_cast<int>(raw.size()), &w, &h, &comp, 0);
    if (!px)
      throw std::runtime_error("PNG file '" + path + "': cannot decode (" + stbi_failure_reason() + ")");
    struct Free {
      stbi_uc* p;
      ~Free() { stbi_image_free(p); }
    } guard{px};
    const int colour = (comp == 2 || comp == 4) ? comp - 1 : comp;
    if (colour != 1 && colour != 3)
      throw std::runtime_error("PNG file '" + path + "': " + std::to_string(comp) +
                               " channels, expected gray or RGB");
    if (first_c == 0) {
      first_w = w;
      first_h = h;
      first_c = colour;
      first_file = path;
    } else if (w != first_w || h != first_h || colour != first_c) {
      throw std::runtime_error("PNG file '" + path + "': " + std::to_string(w) + "x" + std::to_string(h) +
                               " with " + std::to_string(colour) + " channel(s), expected " +
                               std::to_string(first_w) + "x" + std::to_string(first_h) + " with " +
                               std::to_string(first_c) + " like '" + first_file + "'");
    }
    const size_t pixels = static_cast<size_t>(w) * static_cast<size_t>(h);
    if (comp != colour)
      for (size_t i = 0; i < pixels; ++i)
        if (px[i * comp + colour] != 255)
          throw std::runtime_error("PNG file '" + path + "': has transparent pixels (alpha " +
                                   std::to_string(px[i * comp + colour]) + " at pixel " + std::to_string(i) +
                                   "), expected an opaque image");
    // Interleaved HWC -> planar CHW.
    const size_t base = bytes.size();
    bytes.resize(base + pixels * static_cast<size_t>(colour));
    for (int ch = 0; ch < colour; ++ch)
      for (size_t i = 0; i < pixels; ++i)
        bytes[base + static_cast<size_t>(ch) * pixels + i] = px[i * comp + ch];
  }
};

}  // namespace

ImageDataset load_png_folder(const std::string& dir, int64_t pad_to) {
  if (!fs::is_directory(dir)) throw std::runtime_error("PNG folder '" + dir + "': not a directory");
  const std::vector<fs::path> files = png_files_in(dir);
  PngDecoder dec;
  if (!files.empty()) {
    dec.decode(files);
    return make_dataset(dec.bytes, static_cast<int64_t>(files.size()), dec.first_c, dec.first_h, dec.first_w,
                        pad_to, dir);
  }
  // No images of its own: one class per sub-folder.
  std::vector<fs::path> classes;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::error_code ec;
    if (e.is_directory(ec) && e.path().filename().string().rfind('.', 0) != 0) classes.push_back(e.path());
  }
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw std::runtime_error("PNG folder '" + dir + "': no *.png files (nor class sub-folders holding them)");
  if (static_cast<int64_t>(classes.size()) > kMaxClasses)
    throw std::runtime_error("PNG folder '" + dir + "': " + std::to_string(classes.size()) +
                             " class sub-folders, expected at most " + std::to_string(kMaxClasses));
  std::vector<int64_t> labels;
  std::vector<std::string> names;
  for (size_t k = 0; k < classes.size(); ++k) {
    const std::vector<fs::path> in_class = png_files_in(classes[k]);
    if (in_class.empty())
      throw std::runtime_error("PNG folder '" + dir + "': class sub-folder '" +
                               classes[k].filename().string() +
                               "' holds no *.png files (every sub-folder is a class; remove or fill it)");
    dec.decode(in_class);
    labels.insert(labels.end(), in_class.size(), static_cast<int64_t>(k));
    names.push_back(classes[k].filename().string());
  }
  ImageDataset ds = make_dataset(dec.bytes, static_cast<int64_t>(labels.size()), dec.first_c, dec.first_h,
                                 dec.first_w, pad_to, dir);
  ds.labels = std::move(labels);
  ds.class_names = std::move(names);
  return ds;
}

ImageDataset decode_png(const std::string& bytes, const std::string& name, int64_t pad_to) {
  PngDecoder dec;
  dec.decode_bytes(bytes, name);
  return make_dataset(dec.bytes, 1, dec.first_c, dec.first_h, dec.first_w, pad_to, name);
}

ImageDataset load_png_files(const std::vector<std::string>& files, int64_t pad_to) {
  if (files.empty()) throw std::runtime_error("PNG files: none given");
  std::vector<fs::path> paths;
  for (const std::string& f : files) {
    std::error_code ec;
    if (!fs::is_regular_file(f, ec))
      throw std::runtime_error("PNG file '" + f +
                               "': " + (fs::exists(f, ec) ? "not a regular file" : "no such file"));
    paths.emplace_back(f);
  }
  PngDecoder dec;
  dec.decode(paths);
  return make_dataset(
      dec.bytes, static_cast<int64_t>(paths.size()), dec.first_c, dec.first_h, dec.first_w, pad_to,
      files.size() == 1 ? files[0] : files[0] + " and " + std::to_string(files.size() - 1) + " more");
}

ImageDataset resolve_dataset(const std::string& spec, const std::string& split, int64_t pad_to) {
  if (spec == "fashion-mnist") {
    if (!fs::is_directory(kFashionMnistDir))
      throw std::runtime_error(std::string("dataset 'fashion-mnist': ") + kFashionMnistDir +
                               " does not exist (install Debian's dataset-fashion-mnist package)");
    ImageDataset ds = load_idx_dataset(kFashionMnistDir, split, pad_to);
    ds.class_names = fashion_mnist_class_names();
    return ds;
  }
  if (!fs::is_directory(spec))
    throw std::runtime_error("dataset '" + spec +
                             "': not a directory; expected 'fashion-mnist', a directory with IDX files, "
                             "or a folder of PNG images");
  if (!find_idx(spec, split_prefix(split) + "-images-idx3-ubyte").empty())
    return load_idx_dataset(spec, split, pad_to);
  return load_png_folder(spec, pad_to);
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

std::map<std::string, std::string> dataset_metadata(const ImageDataset& data, bool with_classes) {
  std::map<std::string, std::string> m = {{"data.source", data.source},
                                          {"data.channels", std::to_string(data.channels())},
                                          {"data.height", std::to_string(data.height())},
                                          {"data.width", std::to_string(data.width())},
                                          {"data.orig_height", std::to_string(data.orig_height)},
                                          {"data.orig_width", std::to_string(data.orig_width)},
                                          {"data.pad_top", std::to_string(data.pad_top)},
                                          {"data.pad_left", std::to_string(data.pad_left)}};
  if (with_classes && !data.class_names.empty())
    m["data.class_names"] = nlohmann::json(data.class_names).dump();
  return m;
}

std::string dataset_name(const std::string& spec) {
  if (spec == "fashion-mnist") return spec;
  fs::path p = fs::path(spec).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // a trailing '/'
  const std::string base = p.filename().string();
  return base.empty() || base == "." || base == ".." ? std::string("data") : base;
}

std::map<std::string, std::string> shareable_data_metadata(
    const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> m = metadata;
  auto spec = m.find("data.spec");
  if (spec == m.end()) return m;
  const std::string name = dataset_name(spec->second);
  spec->second = name;
  auto source = m.find("data.source");
  if (source != m.end()) {
    // A split, as load_idx_dataset writes it: "<folder> (train)".
    const std::string& s = source->second;
    const size_t open = s.rfind(" (");
    const bool split = open != std::string::npos && !s.empty() && s.back() == ')';
    source->second = split ? name + s.substr(open) : name;
  }
  return m;
}

std::vector<std::string> class_names_from_metadata(const std::map<std::string, std::string>& metadata) {
  auto it = metadata.find("data.class_names");
  if (it == metadata.end()) return {};
  const auto bad = [&](const std::string& why) {
    return std::invalid_argument("metadata data.class_names: " + why +
                                 " (expected a JSON array of distinct non-empty strings)");
  };
  const nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
  if (j.is_discarded() || !j.is_array()) throw bad("not a JSON array");
  if (j.empty() || static_cast<int64_t>(j.size()) > kMaxClasses)
    throw bad(std::to_string(j.size()) + " names, expected 1.." + std::to_string(kMaxClasses));
  std::vector<std::string> names;
  for (const auto& e : j) {
    if (!e.is_string() || e.get<std::string>().empty()) throw bad("entry " + e.dump() + " is not a name");
    names.push_back(e.get<std::string>());
  }
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) throw bad("a name appears twice");
  return names;
}

int64_t resolve_class(const std::vector<std::string>& names, const std::string& what) {
  const auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (size_t k = 0; k < names.size(); ++k)
    if (lower(names[k]) == lower(what)) return static_cast<int64_t>(k);
  const bool digits = !what.empty() && what.size() < 10 &&
                      std::all_of(what.begin(), what.end(), [](unsigned char c) { return std::isdigit(c); });
  if (digits && std::stoll(what) < static_cast<long long>(names.size())) return std::stoll(what);
  std::string list;
  for (size_t k = 0; k < names.size() && k < 50; ++k)
    list += (k ? ", " : "") + std::to_string(k) + " " + names[k];
  if (names.size() > 50) list += ", ...";
  throw std::invalid_argument("class '" + what + "' is not one of the model's " +
                              std::to_string(names.size()) + " classes (a name or an index: " + list + ")");
}

CropBox crop_from_metadata(const std::map<std::string, std::string>& metadata) {
  const char* keys[] = {"data.pad_top", "data.pad_left", "data.orig_height", "data.orig_width"};
  int64_t v[4] = {};
  for (int i = 0; i < 4; ++i) {
    auto it = metadata.find(keys[i]);
    if (it == metadata.end()) return {};
    size_t used = 0;
    try {
      v[i] = std::stoll(it->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != it->second.size() || v[i] < 0)
      throw std::invalid_argument(std::string("metadata ") + keys[i] + " = '" + it->second +
                                  "', expected a non-negative integer");
  }
  return {v[0], v[1], v[2], v[3]};
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  if (n < 0 || epoch < 0)
    throw std::invalid_argument("epoch_permutation: n = " + std::to_string(n) +
                                ", epoch = " + std::to_string(epoch) + ", expected both >= 0");
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  const uint64_t stream = kDataOrderStream + static_cast<uint64_t>(epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = philox::uniform_int(seed, stream, static_cast<uint64_t>(i), i + 1);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

BatchIterator::BatchIterator(ImageDataset data, int64_t batch_size, uint64_t seed, bool drop_last)
    : data_(std::move(data)), batch_size_(batch_size), seed_(seed), drop_last_(drop_last) {
  if (!data_.images.defined() || data_.images.dim() != 4 || data_.size() == 0)
    throw std::invalid_argument("BatchIterator: need a non-empty [N, C, H, W] dataset, got " +
                                data_.images.desc());
  if (data_.images.dtype() != DType::f32 || data_.images.device() != Device::cpu)
    throw std::invalid_argument("BatchIterator: need f32 cpu images, got " + data_.images.desc());
  if (batch_size_ < 1 || (drop_last_ && batch_size_ > data_.size()))
    throw std::invalid_argument("BatchIterator: batch size " + std::to_string(batch_size_) + " for " +
                                std::to_string(data_.size()) + " images, expected 1.." +
                                std::to_string(data_.size()));
  if (!data_.labels.empty() && static_cast<int64_t>(data_.labels.size()) != data_.size())
    throw std::invalid_argument("BatchIterator: " + std::to_string(data_.labels.size()) + " labels for " +
                                std::to_string(data_.size()) + " images");
}

int64_t BatchIterator::batches_per_epoch() const {
  const int64_t n = data_.size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void BatchIterator::seek(int64_t epoch, int64_t index_in_epoch) {
  if (epoch < 0 || index_in_epoch < 0 || index_in_epoch > data_.size())
    throw std::invalid_argument("BatchIterator::seek(" + std::to_string(epoch) + ", " +
                                std::to_string(index_in_epoch) + "): expected epoch >= 0 and index in 0.." +
                                std::to_string(data_.size()));
  epoch_ = epoch;
  index_ = index_in_epoch;
}

const std::vector<int64_t>& BatchIterator::order(int64_t epoch) {
  if (order_epoch_ != epoch) {
    order_ = epoch_permutation(data_.size(), seed_, epoch);
    order_epoch_ = epoch;
  }
  return order_;
}

Batch BatchIterator::next() {
  const int64_t n = data_.size();
  const int64_t left = n - index_;
  if (left == 0 || (drop_last_ && left < batch_size_)) {
    ++epoch_;
    index_ = 0;
  }
  const int64_t b = std::min(batch_size_, n - index_);
  const std::vector<int64_t>& perm = order(epoch_);
  Batch out;
  out.epoch = epoch_;
  out.start = index_;
  const int64_t c = data_.channels(), h = data_.height(), w = data_.width();
  const int64_t row = c * h * w;
  out.images = Tensor::empty({b, c, h, w}, DType::f32);
  float* dst = out.images.data<float>();
  const float* src = data_.images.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t k = perm[static_cast<size_t>(index_ + i)];
    out.indices.push_back(k);
    if (!data_.labels.empty()) out.labels.push_back(data_.labels[static_cast<size_t>(k)]);
    std::memcpy(dst + i * row, src + k * row, static_cast<size_t>(row) * sizeof(float));
  }
  index_ += b;
  return out;
}

}  // namespace ddpm
