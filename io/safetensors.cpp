#include "io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "io/atomic_file.h"

namespace ddpm {

static_assert(std::endian::native == std::endian::little,
              "safetensors I/O copies raw bytes and assumes a little-endian host");

namespace {

struct DTypeInfo {
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
    {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8},
};

std::string dtype_list() {
  std::string s;
  for (const DTypeInfo& d : kDTypes) {
    if (!s.empty()) s += ' ';
    s += d.name;
  }
  return s;
}

bool mul_checked(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }
bool add_checked(uint64_t a, uint64_t b, uint64_t& out) { return !__builtin_add_overflow(a, b, &out); }

// Elements of a shape and their byte count, or false on overflow.
bool shape_bytes(const Shape& shape, size_t elem, uint64_t& bytes) {
  uint64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || !mul_checked(n, static_cast<uint64_t>(d), n)) return false;
  return mul_checked(n, elem, bytes);
}

// Whether the product of the non-zero dimensions fits in int64: a tensor
// with a zero dimension has no bytes whatever the others are, but Tensor
// computes element counts and strides in int64 (left to right, and suffix
// products), so [2^62, 2, 0] or [0, 2^62, 2^62] would overflow there.
bool shape_fits_int64(const Shape& shape) {
  uint64_t n = 1;
  for (int64_t d : shape)
    if (d > 0 && (!mul_checked(n, static_cast<uint64_t>(d), n) ||
                  n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())))
      return false;
  return true;
}

[[noreturn]] void bad(const std::string& source, const std::string& field, const std::string& what) {
  throw std::runtime_error("safetensors file '" + source + "': " + field + ": " + what);
}

// What a JSON value is, for messages. Containers are described by their size,
// not printed: printing is recursive, and a hostile header may nest deeply.
std::string json_type(const nlohmann::json& j) {
  if (j.is_number_unsigned()) return "unsigned integer " + j.dump();
  if (j.is_number_integer()) return "negative integer " + j.dump();
  if (j.is_number_float()) return "number " + j.dump();
  if (j.is_array()) return "array of " + std::to_string(j.size()) + " element(s)";
  if (j.is_object()) return "object with " + std::to_string(j.size()) + " key(s)";
  std::string s = j.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return std::string(j.type_name()) + " " + s;
}

// A tensor or metadata name as it appears in a message, cut short when
// long (a name may be megabytes of junk in a corrupt file); quote_name adds
// quotes.
std::string clip_name(const std::string& name) {
  if (name.size() <= 80) return name;
  return name.substr(0, 60) + "... (" + std::to_string(name.size()) + " bytes)";
}
std::string quote_name(const std::string& name) {
  // Appended piece by piece: GCC 12's -Wrestrict misfires on "'" + string at
  // -O3 without -march=native (a false positive, GCC bug 105329).
  std::string q = "'";
  q += clip_name(name);
  q += '\'';
  return q;
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1F;
  const uint32_t man = h & 0x3FF;
  float mag;
  if (exp == 0)
    mag = std::ldexp(static_cast<float>(man), -24);  // zero or subnormal
  else if (exp == 31)
    mag = man == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  else
    mag = std::ldexp(static_cast<float>(man | 0x400), static_cast<int>(exp) - 25);
  return sign ? -mag : mag;
}

template <class T>
void decode_as(const std::byte* src, uint64_t n, std::vector<double>& out) {
  for (uint64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    out[i] = static_cast<double>(v);
  }
}

}  // namespace

size_t safetensors_dtype_size(const std::string& dtype) {
  for (const DTypeInfo& d : kDTypes)
    if (dtype == d.name) return d.size;
  return 0;
}

// ---- writing ----

const char* safetensors_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f64:
      return "F64";
    case DType::bf16:
      return "BF16";
    case DType::f32:
      break;
  }
  return "F32";
}

SafetensorsBlob safetensors_blob(const std::string& name, const Tensor& t) {
  check_defined(t, "safetensors_blob", name.c_str());
  SafetensorsBlob b{name, safetensors_dtype_name(t.dtype()), t.shape(), {}};
  b.bytes.resize(t.nbytes());
  if (!b.bytes.empty()) t.copy_to_host(b.bytes.data());
  return b;
}

SafetensorsBlob safetensors_blob_i64(const std::string& name, const std::vector<int64_t>& values) {
  return safetensors_blob_i64(name, values, Shape{static_cast<int64_t>(values.size())});
}

SafetensorsBlob safetensors_blob_i64(const std::string& name, const std::vector<int64_t>& values,
                                     const Shape& shape) {
  if (shape_numel(shape) != static_cast<int64_t>(values.size()))
    throw std::invalid_argument("safetensors_blob_i64 '" + name + "': " + std::to_string(values.size()) +
                                " values do not fill shape " + shape_str(shape));
  SafetensorsBlob b{name, "I64", shape, std::vector<std::byte>(values.size() * sizeof(int64_t))};
  if (!values.empty()) std::memcpy(b.bytes.data(), values.data(), b.bytes.size());
  return b;
}

SafetensorsBlob safetensors_blob_u64(const std::string& name, const std::vector<uint64_t>& values) {
  SafetensorsBlob b{name, "U64", Shape{static_cast<int64_t>(values.size())},
                    std::vector<std::byte>(values.size() * sizeof(uint64_t))};
  if (!values.empty()) std::memcpy(b.bytes.data(), values.data(), b.bytes.size());
  return b;
}

std::string encode_safetensors(const std::vector<SafetensorsBlob>& blobs,
                               const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const SafetensorsBlob& b : blobs) {
    const std::string who = "encode_safetensors: tensor '" + b.name + "'";
    if (b.name == "__metadata__") throw std::invalid_argument(who + ": the name is reserved");
    if (!seen.insert(b.name).second) throw std::invalid_argument(who + ": duplicate name");
    const size_t elem = safetensors_dtype_size(b.dtype);
    if (elem == 0)
      throw std::invalid_argument(who + ": unknown dtype '" + b.dtype + "', expected one of " + dtype_list());
    uint64_t expect = 0;
    if (!shape_bytes(b.shape, elem, expect))
      throw std::invalid_argument(who + ": shape " + shape_str(b.shape) + " is negative or overflows");
    if (expect != b.bytes.size())
      throw std::invalid_argument(who + ": " + std::to_string(b.bytes.size()) + " bytes, expected " +
                                  std::to_string(expect) + " for " + b.dtype + " " + shape_str(b.shape));
    uint64_t end = 0;
    if (!add_checked(offset, expect, end)) throw std::invalid_argument(who + ": data section overflows");
    header[b.name] = {{"dtype", b.dtype}, {"shape", b.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json;
  try {
    json = header.dump();
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("encode_safetensors: a name or metadata string is not UTF-8: ") +
                                e.what());
  }
  json.append((8 - json.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + json.size() + offset);
  const uint64_t n = json.size();
  char len[8];
  std::memcpy(len, &n, 8);
  out.append(len, 8);
  out += json;
  for (const SafetensorsBlob& b : blobs)
    out.append(reinterpret_cast<const char*>(b.bytes.data()), b.bytes.size());
  return out;
}

void save_safetensors(const std::string& path, const std::vector<SafetensorsBlob>& blobs,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, encode_safetensors(blobs, metadata));
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsBlob> blobs;
  blobs.reserve(tensors.size());
  for (const auto& [name, t] : tensors) blobs.push_back(safetensors_blob(name, t));
  save_safetensors(path, blobs, metadata);
}

// ---- reading ----

SafetensorsFile parse_safetensors(std::string bytes, const std::string& source) {
  SafetensorsFile f;
  f.source_ = source;
  const uint64_t size = bytes.size();
  if (size < 8)
    bad(source, "header length",
        "the file has " + std::to_string(size) +
            " bytes, expected at least 8 (the little-endian header length)");
  const uint64_t n = read_u64_le(bytes.data());
  if (n > kSafetensorsMaxHeader)
    bad(source, "header length",
        "found " + std::to_string(n) + " bytes, expected at most " + std::to_string(kSafetensorsMaxHeader));
  if (n > size - 8)
    bad(source, "header length",
        "found " + std::to_string(n) + " bytes, but only " + std::to_string(size - 8) +
            " bytes follow the length field");
  const uint64_t data_size = size - 8 - n;

  // Parse with a callback that remembers the keys of every open object, so
  // a duplicate (which nlohmann would merge silently) is caught, and that
  // stops at a nesting depth no valid header has (root object, entry, shape:
  // 3), so a header of a million '[' costs neither memory nor stack.
  struct OpenObject {
    std::string name;  // the key this object is the value of ("" for the root)
    std::string last_key;
    std::set<std::string> keys;
  };
  std::vector<OpenObject> open;
  std::string duplicate, duplicate_parent;
  bool duplicate_top = false;
  constexpr int kMaxDepth = 16;
  int depth = 0;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    if (event == E::object_start || event == E::array_start) {
      if (++depth > kMaxDepth)
        bad(source, "header",
            "arrays and objects nested more than " + std::to_string(kMaxDepth) +
                " deep, expected at most 3 (header, entry, shape)");
    } else if (event == E::object_end || event == E::array_end) {
      --depth;
    }
    if (event == E::object_start) {
      open.push_back({open.empty() ? std::string() : open.back().last_key, {}, {}});
    } else if (event == E::object_end) {
      if (!open.empty()) open.pop_back();
    } else if (event == E::key && !open.empty()) {
      OpenObject& o = open.back();
      o.last_key = parsed.get<std::string>();
      if (!o.keys.insert(o.last_key).second && duplicate.empty()) {
        duplicate = o.last_key;
        duplicate_parent = o.name;
        duplicate_top = open.size() == 1;
      }
    }
    return true;
  };
  nlohmann::json header;
  const char* hb = bytes.data() + 8;
  try {
    header = nlohmann::json::parse(hb, hb + n, callback);
  } catch (const nlohmann::json::exception& e) {
    bad(source, "header", std::string("not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) {
    if (duplicate_top && duplicate == "__metadata__")
      bad(source, "header", "duplicate '__metadata__' object");
    if (duplicate_top)
      bad(source, "header", "duplicate tensor name " + quote_name(duplicate) + ", expected unique names");
    bad(source, "header",
        "duplicate key " + quote_name(duplicate) + " inside " + quote_name(duplicate_parent) +
            ", expected unique keys");
  }
  if (!header.is_object()) bad(source, "header", "found " + json_type(header) + ", expected a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object())
        bad(source, "__metadata__", "found " + json_type(v) + ", expected an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          bad(source, "__metadata__." + clip_name(m.key()),
              "found " + json_type(m.value()) + ", expected a string");
        f.metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string field = "tensor " + quote_name(name);
    if (!v.is_object()) bad(source, field, "found " + json_type(v) + ", expected an object");
    for (auto k = v.begin(); k != v.end(); ++k)
      if (k.key() != "dtype" && k.key() != "shape" && k.key() != "data_offsets")
        bad(source, field + "." + k.key(), "unexpected key, expected only dtype, shape and data_offsets");
    SafetensorsEntry e;
    e.name = name;

    if (!v.contains("dtype")) bad(source, field + ".dtype", "missing");
    if (!v["dtype"].is_string())
      bad(source, field + ".dtype", "found " + json_type(v["dtype"]) + ", expected a string");
    e.dtype = v["dtype"].get<std::string>();
    const size_t elem = safetensors_dtype_size(e.dtype);
    if (elem == 0)
      bad(source, field + ".dtype", "unknown dtype '" + e.dtype + "', expected one of " + dtype_list());

    if (!v.contains("shape")) bad(source, field + ".shape", "missing");
    const nlohmann::json& shape = v["shape"];
    if (!shape.is_array()) bad(source, field + ".shape", "found " + json_type(shape) + ", expected an array");
    for (const nlohmann::json& d : shape) {
      if (!d.is_number_unsigned())
        bad(source, field + ".shape", "found element " + json_type(d) + ", expected non-negative integers");
      const uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        bad(source, field + ".shape", "dimension " + std::to_string(dim) + " is too large");
      e.shape.push_back(static_cast<int64_t>(dim));
    }

    if (!v.contains("data_offsets")) bad(source, field + ".data_offsets", "missing");
    const nlohmann::json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad(source, field + ".data_offsets",
          "found " + json_type(off) + ", expected a pair [begin, end] of non-negative integers");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.begin > e.end)
      bad(source, field + ".data_offsets",
          "reversed: begin " + std::to_string(e.begin) + " > end " + std::to_string(e.end));
    if (e.end > data_size)
      bad(source, field + ".data_offsets",
          "end " + std::to_string(e.end) + " is beyond the data section of " + std::to_string(data_size) +
              " bytes");
    uint64_t expect = 0;
    if (!shape_bytes(e.shape, elem, expect))
      bad(source, field + ".shape",
          shape_str(e.shape) + " x " + std::to_string(elem) + " bytes overflows 64 bits");
    if (!shape_fits_int64(e.shape))
      bad(source, field + ".shape",
          shape_str(e.shape) +
              ": the product of the non-zero dimensions exceeds "
              "2^63-1, expected a size a tensor can have");
    if (expect != e.end - e.begin)
      bad(source, field + ".data_offsets",
          "spans " + std::to_string(e.end - e.begin) + " bytes, expected " + std::to_string(expect) +
              " for " + e.dtype + " " + shape_str(e.shape));
    f.entries_.push_back(std::move(e));
  }

  // The ranges must tile [0, data_size): no overlap, no hole, no tail.
  std::sort(f.entries_.begin(), f.entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    return a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  uint64_t cursor = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : f.entries_) {
    if (e.begin < cursor)
      bad(source, "tensor " + quote_name(e.name) + ".data_offsets",
          "[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlaps tensor " +
              quote_name(prev->name) + " which ends at " + std::to_string(cursor));
    if (e.begin > cursor)
      bad(source, "tensor " + quote_name(e.name) + ".data_offsets",
          "starts at " + std::to_string(e.begin) + ", leaving a hole of bytes [" + std::to_string(cursor) +
              ", " + std::to_string(e.begin) + ") in the data section");
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_size)
    bad(source, "data section",
        "tensors cover " + std::to_string(cursor) + " bytes, but the data section has " +
            std::to_string(data_size) + " bytes");

  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  f.data_start_ = 8 + n;
  f.buffer_ = std::move(bytes);
  return f;
}

SafetensorsFile load_safetensors(const std::string& path) {
  // Bigger than any checkpoint we make; read_file names the path on refusal.
  constexpr uint64_t kMaxFile = uint64_t{64} << 30;
  return parse_safetensors(read_file(path, kMaxFile), path);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const SafetensorsEntry& e : entries_) out.push_back(e.name);
  return out;
}

bool SafetensorsFile::contains(const std::string& name) const { return index_.count(name) != 0; }

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    throw std::out_of_range("safetensors file '" + source_ + "': no tensor named '" + name + "'");
  return entries_[it->second];
}

std::span<const std::byte> SafetensorsFile::bytes(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const auto* base = reinterpret_cast<const std::byte*>(buffer_.data()) + data_start_;
  return {base + e.begin, static_cast<size_t>(e.end - e.begin)};
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  for (const DType d : {DType::f32, DType::f64, DType::bf16})
    if (e.dtype == safetensors_dtype_name(d)) return tensor(name, d);
  throw std::runtime_error("safetensors file '" + source_ + "': tensor '" + name + "' has dtype " + e.dtype +
                           ", expected F32, F64 or BF16 (ask for a conversion with tensor(name, dtype))");
}

Tensor SafetensorsFile::tensor(const std::string& name, DType dtype) const {
  const SafetensorsEntry& e = entry(name);
  const std::span<const std::byte> src = bytes(name);
  if (e.dtype == safetensors_dtype_name(dtype)) {  // the file's own dtype: the bytes as they are
    Tensor t = Tensor::empty(e.shape, dtype);
    if (!src.empty()) std::memcpy(t.raw_data(), src.data(), src.size());
    return t;
  }
  const uint64_t n = static_cast<uint64_t>(shape_numel(e.shape));
  std::vector<double> v(n);
  const std::byte* p = src.data();
  if (e.dtype == "F32")
    decode_as<float>(p, n, v);
  else if (e.dtype == "F64")
    decode_as<double>(p, n, v);
  else if (e.dtype == "I8")
    decode_as<int8_t>(p, n, v);
  else if (e.dtype == "I16")
    decode_as<int16_t>(p, n, v);
  else if (e.dtype == "I32")
    decode_as<int32_t>(p, n, v);
  else if (e.dtype == "I64")
    decode_as<int64_t>(p, n, v);
  else if (e.dtype == "U8" || e.dtype == "BOOL")
    decode_as<uint8_t>(p, n, v);
  else if (e.dtype == "U16")
    decode_as<uint16_t>(p, n, v);
  else if (e.dtype == "U32")
    decode_as<uint32_t>(p, n, v);
  else if (e.dtype == "U64")
    decode_as<uint64_t>(p, n, v);
  else if (e.dtype == "F16" || e.dtype == "BF16") {
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      if (e.dtype == "F16") {
        v[i] = half_to_float(h);
      } else {
        const uint32_t bits = static_cast<uint32_t>(h) << 16;
        v[i] = std::bit_cast<float>(bits);
      }
    }
  } else {
    throw std::runtime_error("safetensors file '" + source_ + "': tensor '" + name + "' has dtype " +
                             e.dtype + ", which cannot be converted to " + dtype_name(dtype));
  }
  return Tensor::from_host(v.data(), e.shape, dtype);
}

namespace {

template <class T>
std::vector<T> read_words(const SafetensorsFile& f, const std::string& name, const char* dtype) {
  const SafetensorsEntry& e = f.entry(name);
  if (e.dtype != dtype)
    throw std::runtime_error("safetensors file '" + f.source() + "': tensor '" + name + "' has dtype " +
                             e.dtype + ", expected " + dtype);
  const std::span<const std::byte> src = f.bytes(name);
  std::vector<T> out(src.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), src.data(), src.size());
  return out;
}

}  // namespace

std::vector<int64_t> SafetensorsFile::int64s(const std::string& name) const {
  return read_words<int64_t>(*this, name, "I64");
}

std::vector<uint64_t> SafetensorsFile::uint64s(const std::string& name) const {
  return read_words<uint64_t>(*this, name, "U64");
}

std::string NameCheck::message(const std::string& source) const {
  if (ok()) return "";
  std::string m = "safetensors file '" + source + "' does not match the model:";
  for (const std::string& s : missing) m += "\n  missing: " + s;
  for (const std::string& s : extra) m += "\n  unexpected: " + s;
  for (const std::string& s : mismatched) m += "\n  wrong shape: " + s;
  return m;
}

NameCheck check_names(const SafetensorsFile& file,
                      const std::vector<std::pair<std::string, Shape>>& expected) {
  NameCheck r;
  std::set<std::string> wanted;
  for (const auto& [name, shape] : expected) {
    wanted.insert(name);
    if (!file.contains(name)) {
      r.missing.push_back(name);
      continue;
    }
    const SafetensorsEntry& e = file.entry(name);
    if (e.shape != shape)
      r.mismatched.push_back(name + ": file has " + shape_str(e.shape) + " " + e.dtype + ", expected " +
                             shape_str(shape));
  }
  for (const SafetensorsEntry& e : file.entries())
    if (!wanted.count(e.name)) r.extra.push_back(e.name);
  return r;
}

void require_names(const SafetensorsFile& file, const std::vector<std::pair<std::string, Shape>>& expected) {
  const NameCheck r = check_names(file, expected);
  if (!r.ok()) throw std::runtime_error(r.message(file.source()));
}

}  // namespace ddpm
