// The fuzz targets' bodies, shared by the libFuzzer entry points
// (tests/fuzz/fuzz_<target>.cpp, built by scripts/fuzz.sh) and by the doctest
// suite, which replays the seed corpus and every input that once failed
// (tests/fuzz/regressions/<target>/) on each build, sanitized ones included.
//
// Each function returns normally when the input is handled: parsed, or
// refused with std::runtime_error (the readers' documented error). A broken
// invariant throws std::logic_error; any other exception propagates. Under
// libFuzzer an escaping exception, a crash or a sanitizer report is a finding.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "diffusion/model_metadata.h"
#include "diffusion/resume.h"
#include "diffusion/train_config.h"
#include "eval/classifier_metadata.h"
#include "io/data.h"
#include "io/eval_csv.h"
#include "io/loss_csv.h"
#include "io/safetensors.h"

namespace ddpm::fuzz {

// The safetensors reader on arbitrary bytes; what parses is then read
// through every accessor.
inline void safetensors_one(const uint8_t* data, size_t size) {
  SafetensorsFile f;
  try {
    f = parse_safetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz-input");
  } catch (const std::runtime_error&) {
    return;
  }
  uint64_t covered = 0;
  for (const SafetensorsEntry& e : f.entries()) {
    covered += f.bytes(e.name).size();
    if (e.dtype == "I64") (void)f.int64s(e.name);
    if (e.dtype == "U64") (void)f.uint64s(e.name);
    try {
      (void)f.tensor(e.name, DType::f32);  // converts every dtype but the F8 ones
      (void)f.tensor(e.name);              // F32/F64 only
    } catch (const std::runtime_error&) {
    }
  }
  if (covered + 8 > size) throw std::logic_error("safetensors: entries cover more bytes than the input has");
  (void)check_names(f, {{"weight", Shape{2, 3}}, {"step", Shape{1}}}).message(f.source());
}

namespace detail {

inline std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

inline uint32_t count_of(const uint8_t* p, size_t n) {
  if (n < 8) return 1;
  const uint32_t c = (uint32_t{p[4]} << 24) | (uint32_t{p[5]} << 16) | (uint32_t{p[6]} << 8) | p[7];
  return c >= 1 && c < (1u << 16) ? c : 1;
}

inline void put(const std::string& path, const void* bytes, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  const bool ok = f && std::fwrite(bytes, 1, n, f) == n;
  if (f && std::fclose(f) != 0) throw std::logic_error("fuzz: cannot write " + path);
  if (!ok) throw std::logic_error("fuzz: cannot write " + path);
}

// A private folder for the two files (on /dev/shm when there is one: files
// on a busy disk make every run wait), removed at exit.
inline std::string g_dir;
inline void remove_scratch() {
  std::remove((g_dir + "/images").c_str());
  std::remove((g_dir + "/labels").c_str());
  ::rmdir(g_dir.c_str());
}
inline const std::string& scratch() {
  if (g_dir.empty()) {
    char templ[] = "/dev/shm/ddpm_fuzz_idx_XXXXXX";
    char fallback[] = "/tmp/ddpm_fuzz_idx_XXXXXX";
    const char* made = ::mkdtemp(templ);
    if (!made) made = ::mkdtemp(fallback);
    if (!made) throw std::logic_error("fuzz: mkdtemp failed");
    g_dir = made;
    std::atexit(remove_scratch);
  }
  return g_dir;
}

// The __metadata__ of a safetensors file whose header is `header` and whose
// data section is empty (parse_safetensors' errors propagate).
inline std::map<std::string, std::string> header_metadata(const std::string& header) {
  std::string container(8, '\0');
  for (size_t i = 0; i < 8; ++i)
    container[i] = static_cast<char>((uint64_t{header.size()} >> (8 * i)) & 0xFF);
  return parse_safetensors(container + header, "fuzz-input").metadata();
}

}  // namespace detail

// The IDX reader (load_idx_files) on arbitrary bytes, gzip-compressed or not
// (zlib's gzread takes both). Input layout: byte 0 chooses the case, the
// rest is one file.
//   bit 0 = 0: the rest is the images file; the labels file is a valid one
//              whose count is the images file's first dimension (when it has
//              one below 2^16, else 1), so the count check does not stop
//              every input.
//   bit 0 = 1: the rest is the labels file; the images file is a valid one
//              of 1x1 images with the labels file's count.
//   bits 1-3:  pad_to (0..7), so the padding path runs too.
inline void idx_one(const uint8_t* data, size_t size) {
  using detail::be32;
  if (size < 1) return;
  const uint8_t mode = data[0];
  const uint8_t* file = data + 1;
  const size_t n = size - 1;
  const std::string images = detail::scratch() + "/images", labels = detail::scratch() + "/labels";
  const uint32_t count = detail::count_of(file, n);
  if ((mode & 1) == 0) {
    detail::put(images, file, n);
    const std::string l = be32(0x801) + be32(count) + std::string(count, '\3');
    detail::put(labels, l.data(), l.size());
  } else {
    detail::put(labels, file, n);
    const std::string i = be32(0x803) + be32(count) + be32(1) + be32(1) + std::string(count, '\x80');
    detail::put(images, i.data(), i.size());
  }
  try {
    const ImageDataset ds = load_idx_files(images, labels, (mode >> 1) & 7);
    if (ds.size() != static_cast<int64_t>(ds.labels.size()))
      throw std::logic_error("idx: labels and images differ");
  } catch (const std::runtime_error&) {
  }
}

// The PNG reader (decode_png: stb_image behind our own checks) on arbitrary
// bytes. Byte 0 is pad_to (0..63, so the padding path runs too), the rest
// is the file. What decodes must be one image of the size its header gave,
// padded as asked, every value in [-1, 1].
inline void png_one(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const int64_t pad_to = data[0] & 63;
  ImageDataset ds;
  try {
    ds = decode_png(std::string(reinterpret_cast<const char*>(data + 1), size - 1), "fuzz-input", pad_to);
  } catch (const std::runtime_error&) {
    return;
  }
  if (ds.size() != 1 || (ds.channels() != 1 && ds.channels() != 3))
    throw std::logic_error("png: expected one gray or RGB image, got " + ds.images.desc());
  if (ds.height() != std::max(ds.orig_height, pad_to) || ds.width() != std::max(ds.orig_width, pad_to))
    throw std::logic_error("png: padding gave " + ds.images.desc());
  const float* v = ds.images.data<float>();
  for (int64_t i = 0; i < ds.images.numel(); ++i)
    if (!(v[i] >= -1.0f && v[i] <= 1.0f)) throw std::logic_error("png: a value outside [-1, 1]");
}

// What the programs read from a checkpoint besides its tensors, on arbitrary
// input. Byte 0 chooses the reader; for the first three the rest is a
// safetensors header (JSON), which the body wraps into a container (the
// 8-byte length in front, no data section) and parses with
// parse_safetensors, so the metadata reaches the reader as it would from a
// file:
//   mode % 4 == 0: model.safetensors (read_model_metadata: ddpm-sample,
//                  ddpm-eval, ddpm-train --eval-every);
//   mode % 4 == 1: state.safetensors on --resume: the format tag, the merge
//                  with the flags (byte 0's bits 2-4: which flags are given,
//                  bits 5-7: the rank count - 1), the data spec and the data
//                  geometry check;
//   mode % 4 == 2: a classifier file (read_classifier_metadata);
//   mode % 4 == 3: the rest is a run's loss.csv and eval.csv text, which a
//                  resume reads back (parse_loss_csv, parse_eval_csv, up to
//                  the step in bits 2-7).
// The readers' documented errors are std::runtime_error and
// std::invalid_argument; what a reader accepts must satisfy what its callers
// rely on (checked below, std::logic_error otherwise).
inline void checkpoint_one(const uint8_t* data, size_t size) {
  if (size < 1) return;
  const uint8_t mode = data[0];
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (mode % 4 == 3) {
    const int64_t upto = mode >> 2;
    for (const LossRow& r : parse_loss_csv(rest, upto))
      if (r.step >= upto) throw std::logic_error("loss.csv: a row at or after the resume step");
    for (const EvalRow& r : parse_eval_csv(rest, upto))
      if (r.step > upto) throw std::logic_error("eval.csv: a row after the resume step");
    return;
  }
  std::map<std::string, std::string> meta;
  try {
    meta = detail::header_metadata(rest);
  } catch (const std::runtime_error&) {
    return;
  }
  try {
    if (mode % 4 == 0) {
      const ModelMetadata m = read_model_metadata(meta, "fuzz-model");
      if (m.height < 8 || m.width < 8 || m.height % 8 || m.width % 8)
        throw std::logic_error("model: accepted a " + std::to_string(m.height) + "x" +
                               std::to_string(m.width) + " image");
      if (static_cast<int64_t>(m.class_names.size()) != m.config.model.num_classes)
        throw std::logic_error("model: class names and num_classes differ");
      // What the file says must survive a save: config.json and the next
      // checkpoint write to_map(), which must read back as itself.
      if (TrainConfig::from_map(m.config.to_map()).to_map() != m.config.to_map())
        throw std::logic_error("model: the configuration does not round-trip through its map");
    } else if (mode % 4 == 1) {
      require_train_state_format(meta, "fuzz-state");
      const int world = ((mode >> 5) & 7) + 1;
      const TrainConfig flags;  // the defaults, as given on the command line
      const std::vector<GivenFlag> all = {
          {"--batch-size", "batch_size"}, {"--lr", "lr"}, {"--schedule", "schedule"}};
      std::vector<GivenFlag> given;
      for (size_t i = 0; i < all.size(); ++i)
        if ((mode >> (2 + i)) & 1) given.push_back(all[i]);
      const TrainConfig merged = merge_resume_config(flags, given, meta, world, "fuzz-state");
      const int64_t global = per_rank_batch_for_resume(meta, 1);
      if (merged.batch_size < 1 || merged.batch_size * world != global)
        throw std::logic_error("resume: per-rank batch " + std::to_string(merged.batch_size) + " x " +
                               std::to_string(world) + " ranks is not the global batch " +
                               std::to_string(global));
      const std::string spec = resume_data_spec("fashion-mnist", false, meta);
      if (meta.count("data.spec") && spec != meta.at("data.spec"))
        throw std::logic_error("resume: data spec not taken from the checkpoint");
      const std::map<std::string, std::string> data_meta = {
          {"data.channels", "1"}, {"data.height", "32"}, {"data.width", "32"}, {"data.source", "x"}};
      check_resume_data(data_meta, meta, spec, "fuzz-state");
    } else {
      const eval::ClassifierMetadata c = eval::read_classifier_metadata(meta, "fuzz-classifier");
      if (c.channels < 1 || c.height < 4 || c.width < 4 || c.classes < 2 ||
          static_cast<int64_t>(c.class_names.size()) != c.classes)
        throw std::logic_error("classifier: accepted inconsistent metadata");
    }
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
}

}  // namespace ddpm::fuzz
