// model.safetensors: the weights sampling uses (EMA weights when EMA was on),
// under the UNet's state_dict names, with the training configuration and the
// data set's image geometry in __metadata__ (docs/formats.md).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "diffusion/trainer.h"
#include "nn/unet.h"

namespace ddpm {

struct LoadedModel {
  TrainConfig config;                        // model, schedule, timesteps, prediction, ...
  std::map<std::string, std::string> meta;   // the whole __metadata__
  std::shared_ptr<nn::UNet> model;
};

// Loads and validates (format tag, configuration, every tensor name and shape);
// throws std::runtime_error naming the file and what is wrong.
LoadedModel load_model(const std::string& path, Device device = Device::cpu);

}  // namespace ddpm
