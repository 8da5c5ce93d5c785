// What model.safetensors' __metadata__ says, checked without its tensors:
// the format tag, the training configuration, the image geometry and crop,
// the class names. load_model (diffusion/model_file.h) reads this first; the
// checkpoint fuzz target (tests/fuzz/) runs it on arbitrary metadata.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "diffusion/train_config.h"
#include "io/images.h"

namespace ddpm {

struct ModelMetadata {
  TrainConfig config;                       // model, schedule, timesteps, prediction, ...
  std::map<std::string, std::string> meta;  // the whole __metadata__
  int64_t height = 0, width = 0;            // the image size the model was trained on (data.height/width)
  CropBox crop;                             // the original image inside it (empty: no crop)
  // A class-conditional model's class names (data.class_names; "0".."K-1"
  // when the file has none); empty for an unconditional model.
  std::vector<std::string> class_names;
};

// Validates `meta`, the __metadata__ of the model file at `path` (named in
// every error): format tag "ddpm-engine model v1", a configuration
// TrainConfig::from_map accepts, data.height/data.width multiples of 8 in
// 8..4096, data.channels (when present) equal to in_channels, the crop inside
// the image, the image condition's geometry, and for a class-conditional model
// num_classes names. Throws std::runtime_error naming the field, what was
// found and what was expected.
ModelMetadata read_model_metadata(const std::map<std::string, std::string>& meta, const std::string& path);

}  // namespace ddpm
