// safetensors files: checkpoints that Python's `safetensors` package loads.
//
// Layout (https://github.com/huggingface/safetensors, "Format"):
//
//   [8 bytes]  N, the header length, unsigned 64-bit little-endian
//   [N bytes]  UTF-8 JSON object:
//                {"__metadata__": {"key": "value", ...},          (optional)
//                 "<name>": {"dtype": "F32", "shape": [d0, d1, ...],
//                            "data_offsets": [begin, end]}, ...}
//   [rest]     the data section: each tensor's raw little-endian bytes,
//              row-major, at [begin, end) relative to the section's start
//
// What we write: the header is compact JSON with __metadata__ first and then
// the entries in the order given, padded with spaces so that N is a multiple
// of 8 (as the reference writer does: the data section then starts 8-byte
// aligned). The data section holds the entries back to back in the same
// order, with no gaps. The file goes through write_file_atomic.
//
// What we accept on read, with an error naming the file, the field, what was
// found and what was expected otherwise (all arithmetic overflow-checked):
//   - at least 8 bytes; N <= 100,000,000 (the reference cap) and 8 + N <= size
//   - the header parses as JSON, is an object, has no duplicate key at any
//     level (nlohmann's parser would keep the last one silently, so a parser
//     callback tracks the keys of every open object) and nests at most 16
//     deep (a valid header nests 3: a deeper one is refused while parsing,
//     before it can cost memory or stack)
//   - __metadata__, when present, is an object of string values
//   - every other key maps to an object with exactly dtype, shape and
//     data_offsets: dtype one of BOOL U8 I8 F8_E5M2 F8_E4M3 I16 U16 F16 BF16
//     I32 U32 F32 F64 I64 U64; shape an array of non-negative integers
//     whose non-zero ones multiply to at most 2^63-1 (even when another is
//     0: Tensor counts elements and strides in int64);
//     data_offsets two non-negative integers begin <= end <= data size;
//     end - begin == product(shape) * sizeof(dtype)
//   - the ranges tile [0, data size) exactly: sorted by begin, each starts
//     where the previous one ended (an earlier start is an overlap, a later
//     one a hole) and the last ends at the end of the file.
//
// Byte order: the format is little-endian and so are the machines we build
// for (x86-64, aarch64 Linux); a static_assert in the .cpp keeps it that way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm {

inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

// Bytes per element of a safetensors dtype name ("F32" -> 4); 0 if unknown.
size_t safetensors_dtype_size(const std::string& dtype);

// One entry to write: raw little-endian bytes of `dtype` and `shape`.
struct SafetensorsBlob {
  std::string name;
  std::string dtype;
  Shape shape;
  std::vector<std::byte> bytes;
};

// The safetensors name of a tensor dtype: f32 "F32", f64 "F64", bf16 "BF16".
const char* safetensors_dtype_name(DType dtype);

// A float tensor as an F32 / F64 / BF16 blob (copied to host memory).
SafetensorsBlob safetensors_blob(const std::string& name, const Tensor& t);
// Integers (step, RNG counters, data position) as an I64 blob; shape
// defaults to [values.size()].
SafetensorsBlob safetensors_blob_i64(const std::string& name, const std::vector<int64_t>& values);
SafetensorsBlob safetensors_blob_i64(const std::string& name, const std::vector<int64_t>& values,
                                     const Shape& shape);
// Unsigned 64-bit values (seeds, Philox counters) as a U64 blob of shape [n].
SafetensorsBlob safetensors_blob_u64(const std::string& name, const std::vector<uint64_t>& values);

// The whole file as bytes. Throws std::invalid_argument on a duplicate or
// reserved name ("__metadata__"), an unknown dtype, or bytes that do not
// match shape x dtype size.
std::string encode_safetensors(const std::vector<SafetensorsBlob>& blobs,
                               const std::map<std::string, std::string>& metadata = {});

void save_safetensors(const std::string& path, const std::vector<SafetensorsBlob>& blobs,
                      const std::map<std::string, std::string>& metadata = {});
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// One tensor of a parsed file; [begin, end) is relative to the data section.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

class SafetensorsFile {
 public:
  // The file name used in error messages.
  const std::string& source() const { return source_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Entries sorted by data offset.
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  // Throw std::out_of_range naming the file and the tensor when absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  std::span<const std::byte> bytes(const std::string& name) const;

  // F32 -> f32 tensor, F64 -> f64 tensor, BF16 -> bf16 tensor; other dtypes throw.
  Tensor tensor(const std::string& name) const;
  // Converted to `dtype` from any of F32 F64 F16 BF16 I8..I64 U8..U64 BOOL.
  Tensor tensor(const std::string& name, DType dtype) const;
  // An I64 entry's values (other dtypes throw).
  std::vector<int64_t> int64s(const std::string& name) const;
  // A U64 entry's values (other dtypes throw).
  std::vector<uint64_t> uint64s(const std::string& name) const;

 private:
  friend SafetensorsFile parse_safetensors(std::string bytes, const std::string& source);
  std::string source_;
  std::string buffer_;  // the whole file
  uint64_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, size_t> index_;
};

// Validates and parses a whole file held in memory; `source` names it in
// errors. Throws std::runtime_error.
SafetensorsFile parse_safetensors(std::string bytes, const std::string& source);
SafetensorsFile load_safetensors(const std::string& path);

// Compares a file's tensor names and shapes with what a model expects.
struct NameCheck {
  std::vector<std::string> missing;     // expected, not in the file
  std::vector<std::string> extra;       // in the file, not expected
  std::vector<std::string> mismatched;  // "name: file [..] F32, expected [..]"
  bool ok() const { return missing.empty() && extra.empty() && mismatched.empty(); }
  // A multi-line report naming the file and every problem; "" when ok().
  std::string message(const std::string& source) const;
};
NameCheck check_names(const SafetensorsFile& file,
                      const std::vector<std::pair<std::string, Shape>>& expected);
// check_names, throwing std::runtime_error with its message unless ok().
void require_names(const SafetensorsFile& file, const std::vector<std::pair<std::string, Shape>>& expected);

}  // namespace ddpm
