// Image datasets for training: float32 [N, C, H, W] in [-1, 1], plus the
// per-epoch order and a resumable batch iterator.
//
// Sources:
//   - IDX files ((Fashion-)MNIST): "<split>-images-idx3-ubyte[.gz]" (magic
//     0x00000803, dims N, H, W, big-endian) and "<split>-labels-idx1-ubyte[.gz]"
//     (magic 0x00000801, dim N, values 0..9), where the split "train" has
//     prefix "train" and "test" has "t10k". Read with zlib's gzread, which
//     also reads uncompressed files; a truncated or corrupt gzip stream, a
//     wrong magic, dimensions that disagree with the bytes present, labels
//     out of range and a count mismatch each throw std::runtime_error naming
//     the file. Debian's dataset-fashion-mnist package installs them in
//     kFashionMnistDir.
//   - A folder of *.png (case-insensitive extension, files sorted by name),
//     decoded with stb_image. Every *.png entry must be a readable regular
//     file, and all images must share size and channel count.
//     A folder with no *.png of its own but sub-folders holding them is a
//     labelled data set: one class per sub-folder (names sorted; hidden
//     ".name" folders skipped), label k for the k-th; a sub-folder without a
//     *.png is an error, as are more than kMaxClasses of them.
//     Gray and RGB are taken as they are; gray+alpha and RGBA are accepted
//     only when every alpha value is 255 (fully opaque), and the alpha
//     channel is dropped; a transparent image is rejected, because any
//     background we composited over would be a silent guess.
//
// Scaling: byte x -> x / 127.5 - 1, exactly -1 at 0 and 1 at 255.
// Padding: images smaller than pad_to (per spatial dimension) are centred
// in a pad_to x pad_to canvas filled with -1, i.e. black, the Fashion-MNIST
// background (28x28 -> 32x32 puts 2 pixels on each side). When the total
// padding is odd the extra pixel goes to the bottom/right. pad_to = 0 turns
// padding off. orig_height/orig_width and pad_top/pad_left keep where the
// original sits, so the sampler can crop its output back (crop()).
//
// Order: epoch e visits the rows in epoch_permutation(N, seed, e), a
// Fisher-Yates shuffle whose swap at position i uses
// philox::uniform_int(seed, kDataOrderStream + e, i, i + 1), so the order is
// a pure function of (seed, epoch): resuming needs only (epoch, index).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "io/images.h"
#include "tensor/tensor.h"

namespace ddpm {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
// Philox stream of the data order ("DATA" in the high 32 bits, plus epoch).
inline constexpr uint64_t kDataOrderStream = 0x4441544100000000ull;

// Fashion-MNIST's ten class names, in label order ("T-shirt/top" ..
// "Ankle boot").
const std::vector<std::string>& fashion_mnist_class_names();
// The most classes a labelled PNG folder (or checkpoint metadata) may name.
inline constexpr int64_t kMaxClasses = 10000;

struct ImageDataset {
  Tensor images;                // [N, C, H, W] f32 in [-1, 1], after padding
  std::vector<int64_t> labels;  // one per image (IDX, class sub-folders); else empty
  // The name of each label: Fashion-MNIST's names for "fashion-mnist",
  // "0".."9" for other IDX files, the sub-folder names of a PNG folder.
  std::vector<std::string> class_names;
  int64_t orig_height = 0;  // before padding
  int64_t orig_width = 0;
  int64_t pad_top = 0;
  int64_t pad_left = 0;
  std::string source;  // what was loaded, for logs and checkpoint metadata

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  // The original image inside the padded one.
  CropBox crop() const { return {pad_top, pad_left, orig_height, orig_width}; }
};

// IDX image/label pair; `pad_to` as described above.
ImageDataset load_idx_files(const std::string& images_path, const std::string& labels_path,
                            int64_t pad_to = 32);
// Finds the split's files in dir (".gz" first, then uncompressed); split is
// "train" or "test" (also "t10k").
ImageDataset load_idx_dataset(const std::string& dir = kFashionMnistDir, const std::string& split = "train",
                              int64_t pad_to = 32);
ImageDataset load_png_folder(const std::string& dir, int64_t pad_to = 0);
// One PNG image from memory (`name` for errors), with a folder's checks;
// an image of more than 2^24 pixels is refused from its header, before
// decoding.
ImageDataset decode_png(const std::string& bytes, const std::string& name, int64_t pad_to = 0);
// The given PNG files, in that order, as an unlabelled data set (the same
// checks as a folder's: readable, one size and channel count).
ImageDataset load_png_files(const std::vector<std::string>& files, int64_t pad_to = 0);
// "fashion-mnist" -> kFashionMnistDir as IDX; a directory holding the
// split's IDX images -> IDX; any other directory -> PNG folder. For PNG
// folders pad_to applies too (0 keeps their size).
ImageDataset resolve_dataset(const std::string& spec, const std::string& split = "train",
                             int64_t pad_to = 32);

// Geometry for checkpoint metadata ("data.height", "data.orig_height",
// "data.pad_top", ...), and the crop read back from it (empty when absent).
// with_classes adds "data.class_names", a JSON array of the names (a
// class-conditional model's checkpoints carry them).
std::map<std::string, std::string> dataset_metadata(const ImageDataset& data, bool with_classes = false);
CropBox crop_from_metadata(const std::map<std::string, std::string>& metadata);
// The name a shared file gives a data set: "fashion-mnist", else the last
// component of the folder's path ("/home/me/data/shoes/" -> "shoes").
std::string dataset_name(const std::string& spec);
// The data metadata as files that get shared (model.safetensors,
// config.json) record it: "data.spec" (the --data, an absolute folder) becomes
// dataset_name() of it, "data.source" that name plus the split it named
// ("shoes (train)"); every other key is kept. A copy without "data.spec" is
// returned unchanged.
std::map<std::string, std::string> shareable_data_metadata(
    const std::map<std::string, std::string>& metadata);
// The class names in metadata ("data.class_names"); empty when absent.
// Throws std::invalid_argument when the value is not a JSON array of 1 to
// kMaxClasses distinct non-empty strings.
std::vector<std::string> class_names_from_metadata(const std::map<std::string, std::string>& metadata);
// The label of `what` among `names`: an exact name (case-insensitive), or a
// decimal index 0..size-1. Throws std::invalid_argument listing the names.
int64_t resolve_class(const std::vector<std::string>& names, const std::string& what);

// A permutation of [0, n), a pure function of (seed, epoch).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

struct Batch {
  Tensor images;                 // [B, C, H, W] f32, cpu
  std::vector<int64_t> labels;   // empty when the dataset has none
  std::vector<int64_t> indices;  // the dataset rows in this batch
  int64_t epoch = 0;             // the epoch it came from
  int64_t start = 0;             // index in that epoch of its first row
};

// Walks epoch after epoch through the shuffled rows. With drop_last (the
// default) every batch has batch_size rows and the last N % batch_size rows
// of each epoch are skipped; otherwise an epoch's last batch may be smaller.
// (epoch(), index_in_epoch()) is the position of the next batch: save it,
// and seek() to it on resume to continue with the same batches.
class BatchIterator {
 public:
  BatchIterator(ImageDataset data, int64_t batch_size, uint64_t seed, bool drop_last = true);
  // Throws std::invalid_argument unless epoch >= 0 and 0 <= index <= N.
  void seek(int64_t epoch, int64_t index_in_epoch);
  Batch next();
  int64_t epoch() const { return epoch_; }
  int64_t index_in_epoch() const { return index_; }
  int64_t batches_per_epoch() const;
  const ImageDataset& dataset() const { return data_; }

 private:
  const std::vector<int64_t>& order(int64_t epoch);
  ImageDataset data_;
  int64_t batch_size_;
  uint64_t seed_;
  bool drop_last_;
  int64_t epoch_ = 0;
  int64_t index_ = 0;
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace ddpm
