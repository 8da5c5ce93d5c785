#include "diffusion/resume.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "io/safetensors.h"

namespace ddpm {

namespace fs = std::filesystem;

Metadata read_resume_metadata(const std::string& state_path, dist::Communicator& comm) {
  Metadata saved;
  if (comm.rank() == 0) {
    if (!fs::is_regular_file(state_path))
      throw std::runtime_error("--resume: nothing to resume: " + state_path + " does not exist");
    saved = load_safetensors(state_path).metadata();
    require_train_state_format(saved, state_path);
  }
  if (comm.size() > 1) {
    std::string text = nlohmann::json(saved).dump();
    comm.broadcast(text, 0);
    saved = nlohmann::json::parse(text).get<Metadata>();
  }
  return saved;
}

void require_train_state_format(const Metadata& meta, const std::string& path) {
  auto fmt = meta.find("format");
  if (fmt == meta.end() || fmt->second != "ddpm-engine train state v1")
    throw std::runtime_error(
        path + ": not a training state file (__metadata__ 'format' is " +
        (fmt == meta.end() ? std::string("missing") : "'" + fmt->second + "'") +
        ", expected 'ddpm-engine train state v1'; model.safetensors holds only the sampling "
        "weights, resume from state.safetensors)");
}

TrainConfig merge_resume_config(const TrainConfig& flags, const std::vector<GivenFlag>& given,
                                const Metadata& saved, int world_size, const std::string& state_path) {
  TrainConfig merged;
  try {
    merged = TrainConfig::from_map(saved);
  } catch (const std::exception& e) {
    throw std::runtime_error("--resume: " + state_path + ": bad __metadata__: " + e.what());
  }
  merged.batch_size = per_rank_batch_for_resume(saved, world_size);
  const auto want_map = flags.to_map(), have_map = merged.to_map();
  // A key only some configurations have (task, superres_from, the ddpm
  // model's keys) reads "none" where it is absent; arch reads "simple".
  auto lookup = [](const Metadata& m, const std::string& key) {
    auto it = m.find(key);
    return it != m.end() ? it->second : key == "arch" ? std::string("simple") : std::string("none");
  };
  for (const GivenFlag& g : given) {
    const std::string want = lookup(want_map, g.key), have = lookup(have_map, g.key);
    if (have == want) continue;
    if (g.key == "batch_size")
      throw std::runtime_error("--resume: --batch-size " + want + " per rank with " +
                               std::to_string(world_size) +
                               " rank(s) does not give the checkpoint's global batch " +
                               std::to_string(merged.batch_size * world_size) + " (" + state_path +
                               "); drop the flag (it becomes " + have + ")");
    throw std::runtime_error("--resume: " + g.flag + " " + want + " differs from the checkpoint's " + g.key +
                             "=" + have + " (" + state_path +
                             "); drop the flag to continue with the checkpoint's value");
  }
  return merged;
}

std::string resume_data_spec(const std::string& data, bool data_given, const Metadata& saved) {
  if (!data_given && saved.count("data.spec")) return saved.at("data.spec");
  return data;
}

void check_resume_data(const Metadata& data_meta, const Metadata& saved, const std::string& data,
                       const std::string& state_path) {
  for (const auto& [k, v] : data_meta)
    if (k != "data.source" && k != "data.spec" && saved.count(k) && saved.at(k) != v)
      throw std::runtime_error("--resume: --data '" + data + "' has " + k + "=" + v + ", but " + state_path +
                               " was trained on " + k + "=" + saved.at(k) + " (data '" +
                               (saved.count("data.source") ? saved.at("data.source") : "?") +
                               "'); pass the --data it was trained on");
}

void refuse_existing_run(const std::string& dir) {
  if (fs::exists(fs::path(dir) / "state.safetensors"))
    throw std::runtime_error(dir +
                             " already holds a run (state.safetensors): pass --resume to continue it, "
                             "or choose another --out");
}

}  // namespace ddpm
