#include "diffusion/model_file.h"

#include <stdexcept>

#include "nn/safetensors.h"

namespace ddpm {

LoadedModel load_model(const std::string& path, Device device) {
  const SafetensorsFile f = load_safetensors(path);
  LoadedModel out;
  out.meta = f.metadata();
  auto fmt = out.meta.find("format");
  if (fmt == out.meta.end() || fmt->second != "ddpm-engine model v1")
    throw std::runtime_error(path + ": not a ddpm-engine model file (__metadata__ 'format' is " +
                             (fmt == out.meta.end() ? std::string("missing") : "'" + fmt->second + "'") +
                             ", expected 'ddpm-engine model v1'; a training state file is state.safetensors, "
                             "the model is model.safetensors)");
  try {
    out.config = TrainConfig::from_map(out.meta);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": bad __metadata__: " + e.what());
  }
  out.model = std::make_shared<nn::UNet>(out.config.model, 0);
  std::vector<std::pair<std::string, Shape>> expected;
  for (const auto& [name, p] : out.model->named_parameters()) expected.emplace_back(name, p.shape());
  require_names(f, expected);
  for (auto& [name, p] : out.model->named_parameters()) p.copy_(f.tensor(name, DType::f32));
  if (device != Device::cpu) out.model->to(device);
  return out;
}

}  // namespace ddpm
