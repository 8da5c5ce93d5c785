// model.safetensors: the weights sampling uses (EMA weights when EMA was on),
// under the UNet's state_dict names, with the training configuration and the
// data set's image geometry in __metadata__ (docs/formats.md).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/train_config.h"
#include "io/images.h"
#include "io/safetensors.h"
#include "nn/unet.h"

namespace ddpm {

struct LoadedModel {
  TrainConfig config;                       // model, schedule, timesteps, prediction, ...
  std::map<std::string, std::string> meta;  // the whole __metadata__
  std::shared_ptr<nn::UNet> model;
  int64_t height = 0, width = 0;  // the image size the model was trained on (data.height/width)
  CropBox crop;                   // the original image inside it (empty: no crop)
  // A class-conditional model's class names (data.class_names; "0".."K-1"
  // when the file has none); empty for an unconditional model.
  std::vector<std::string> class_names;
};

// Loads and validates (format tag, configuration, image geometry, every
// tensor's name, shape, dtype and values); throws std::runtime_error naming
// the file, the field or tensor, what was found and what was expected.
LoadedModel load_model(const std::string& path, Device device = Device::cpu);

// A checkpoint tensor as f32: its dtype must be a float type (F32, F64, F16,
// BF16) and every value finite; the error names the file, the tensor and the
// first bad index. Used for model and training-state files.
Tensor read_weights(const SafetensorsFile& file, const std::string& name);

}  // namespace ddpm
