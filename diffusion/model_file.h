// model.safetensors: the weights sampling uses (EMA weights when EMA was on),
// under the UNet's state_dict names, with the training configuration and the
// data set's image geometry in __metadata__ (docs/formats.md).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/model_metadata.h"
#include "io/safetensors.h"
#include "nn/unet.h"

namespace ddpm {

struct LoadedModel : ModelMetadata {
  std::shared_ptr<nn::UNet> model;
};

// Loads and validates (the metadata as read_model_metadata does, then every
// tensor's name, shape, dtype and values); throws std::runtime_error naming
// the file, the field or tensor, what was found and what was expected.
LoadedModel load_model(const std::string& path, Device device = Device::cpu);

// A checkpoint tensor as f32: its dtype must be a float type (F32, F64, F16,
// BF16) and every value finite; the error names the file, the tensor and the
// first bad index. Used for model and training-state files.
Tensor read_weights(const SafetensorsFile& file, const std::string& name);

}  // namespace ddpm
