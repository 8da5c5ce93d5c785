// A small safetensors reader for the PyTorch reference files under
// tests/data (tests/reference/make_unet*_reference.py), local to the tests so
// that the parity tests do not depend on the engine's own safetensors I/O.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ddpm::test {

struct RefFile {
  std::map<std::string, std::string> metadata;
  std::vector<std::string> names;  // in file order
  std::map<std::string, Tensor> tensors;
};

inline RefFile read_ref(const std::string& file) {
  const std::string path = std::string(DDPM_TEST_DATA_DIR) + "/" + file;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open reference file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 8) throw std::runtime_error(path + ": shorter than a safetensors header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i)
    header_len = (header_len << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  if (header_len > bytes.size() - 8) throw std::runtime_error(path + ": header length past the end");
  const auto header = nlohmann::ordered_json::parse(bytes.substr(8, header_len));
  const size_t data_start = 8 + header_len;

  RefFile r;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : entry.items()) r.metadata[k] = v.get<std::string>();
      continue;
    }
    const std::string dtype = entry.at("dtype").get<std::string>();
    const Shape shape = entry.at("shape").get<Shape>();
    const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
    const size_t elem = dtype == "F64" ? 8 : dtype == "F32" ? 4 : 0;
    if (elem == 0) throw std::runtime_error(path + ": " + name + " has dtype " + dtype);
    const size_t n = static_cast<size_t>(shape_numel(shape));
    if (offsets.size() != 2 || offsets[1] - offsets[0] != n * elem || data_start + offsets[1] > bytes.size())
      throw std::runtime_error(path + ": bad data_offsets for " + name);
    const char* p = bytes.data() + data_start + offsets[0];
    Tensor t;
    if (elem == 8) {
      std::vector<double> v(n);
      std::memcpy(v.data(), p, n * 8);  // little-endian host, as the x86 test machines
      t = Tensor::from_host(v.data(), shape, DType::f64);
    } else {
      std::vector<float> v(n);
      std::memcpy(v.data(), p, n * 4);
      t = Tensor::from_host(v.data(), shape, DType::f32);
    }
    r.names.push_back(name);
    r.tensors[name] = t;
  }
  return r;
}

// A reference file of tests/data, read once.
inline const RefFile& ref(const std::string& file) {
  static std::map<std::string, RefFile> cache;
  auto it = cache.find(file);
  if (it == cache.end()) it = cache.emplace(file, read_ref(file)).first;
  return it->second;
}

}  // namespace ddpm::test
