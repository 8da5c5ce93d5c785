// Continuing a run (ddpm-train --resume): reading what the run folder's
// state.safetensors says about the run and merging it with the flags given
// now. The checkpoint's configuration wins; a flag given explicitly must
// agree with it, and the errors say which flag and how to continue.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "diffusion/train_config.h"
#include "dist/distributed.h"

namespace ddpm {

using Metadata = std::map<std::string, std::string>;

// A flag given on the command line and the TrainConfig::to_map() key it
// sets, e.g. {"--prediction", "prediction"}.
struct GivenFlag {
  std::string flag;
  std::string key;
};

// The __metadata__ of the state file at state_path, read on rank 0 and
// broadcast to the others (their machines may not have the file; a
// collective when comm has more than one rank). Throws std::runtime_error
// "--resume: nothing to resume: ..." on rank 0 when the file does not exist.
Metadata read_resume_metadata(const std::string& state_path, dist::Communicator& comm);

// Throws std::runtime_error "<path>: not a training state file ..." unless
// meta (a file's __metadata__) says "format": "ddpm-engine train state v1";
// the message points a user who gave model.safetensors to state.safetensors.
// read_resume_metadata checks it before anything else reads the metadata.
void require_train_state_format(const Metadata& meta, const std::string& path);

// The configuration a resumed run continues with: the checkpoint's (saved,
// its state metadata), with the per-rank batch that keeps its global batch on
// world_size ranks (per_rank_batch_for_resume). Every flag in `given` (in
// order) must agree with it in `flags`, else std::runtime_error says
// "--resume: <flag> <value> differs from the checkpoint's <key>=<value>
// (<state_path>); drop the flag ...", or for --batch-size that it does not
// give the checkpoint's global batch. Bad metadata is reported as
// "--resume: <state_path>: bad __metadata__: ...".
TrainConfig merge_resume_config(const TrainConfig& flags, const std::vector<GivenFlag>& given,
                                const Metadata& saved, int world_size, const std::string& state_path);

// The --data of a resumed run: `data` when given, else the spec the run was
// started with ("data.spec" in saved), else `data`.
std::string resume_data_spec(const std::string& data, bool data_given, const Metadata& saved);

// Checks that the data set (data_meta: dataset_metadata() of what --data
// `data` loaded) has the geometry the checkpoint was trained on: every key
// but data.source and data.spec that saved also has must be equal. Throws
// std::runtime_error "--resume: --data '<data>' has <k>=<v>, but <state_path>
// was trained on <k>=<v> ..." otherwise.
void check_resume_data(const Metadata& data_meta, const Metadata& saved, const std::string& data,
                       const std::string& state_path);

// A start without --resume: throws std::runtime_error when dir already holds
// a run (a state.safetensors), so it is never overwritten by accident.
void refuse_existing_run(const std::string& dir);

}  // namespace ddpm
