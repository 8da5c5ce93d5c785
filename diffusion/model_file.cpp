#include "diffusion/model_file.h"

#include <cmath>
#include <stdexcept>

namespace ddpm {

Tensor read_weights(const SafetensorsFile& file, const std::string& name) {
  const SafetensorsEntry& e = file.entry(name);
  if (e.dtype != "F32" && e.dtype != "F64" && e.dtype != "F16" && e.dtype != "BF16")
    throw std::runtime_error("safetensors file '" + file.source() + "': tensor '" + name + "' has dtype " +
                             e.dtype + ", expected a float type (F32, F64, F16 or BF16)");
  Tensor t = file.tensor(name, DType::f32);
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(p[i]))
      throw std::runtime_error(
          "safetensors file '" + file.source() + "': tensor '" + name + "' holds " + std::to_string(p[i]) +
          " at flat index " + std::to_string(i) +
          ", expected finite values (the checkpoint is corrupt or came from a diverged run)");
  return t;
}

LoadedModel load_model(const std::string& path, Device device) {
  const SafetensorsFile f = load_safetensors(path);
  LoadedModel out;
  static_cast<ModelMetadata&>(out) = read_model_metadata(f.metadata(), path);
  out.model = std::make_shared<nn::UNet>(out.config.model, 0);
  std::vector<std::pair<std::string, Shape>> expected;
  for (const auto& [name, p] : out.model->named_parameters()) expected.emplace_back(name, p.shape());
  require_names(f, expected);
  for (auto& [name, p] : out.model->named_parameters()) p.copy_(read_weights(f, name));
  if (device != Device::cpu) out.model->to(device);
  return out;
}

}  // namespace ddpm
