// What a classifier file's __metadata__ says (eval/classifier.h has the
// file format), checked without its tensors: the format and architecture
// tags, the input geometry, the class count and names. load_classifier reads
// this first; the checkpoint fuzz target (tests/fuzz/) runs it on arbitrary
// metadata.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ddpm::eval {

// The architecture tag in the file; bump it when nn::Classifier changes.
inline constexpr const char* kClassifierArch = "fashion-cnn-v1";
// __metadata__ ddpm_eval of a classifier file and of a reference cache.
inline constexpr const char* kClassifierFormat = "classifier";
inline constexpr const char* kReferenceFormat = "reference_features";

struct ClassifierMetadata {
  int64_t channels = 1, height = 28, width = 28, classes = 10;  // the images it takes
  std::vector<std::string> class_names;
  std::map<std::string, std::string> meta;  // the whole __metadata__
};

// Validates `meta`, the __metadata__ of the classifier file at `path` (named
// in every error): ddpm_eval = kClassifierFormat, arch = kClassifierArch,
// input_channels 1..64, input_height and input_width 4..4096, classes
// 2..100000, and class_names listing `classes` names. Throws
// std::runtime_error naming the field, what was found and what was expected.
ClassifierMetadata read_classifier_metadata(const std::map<std::string, std::string>& meta,
                                            const std::string& path);

// A class_names value split at commas ("a,b," is three names, the last empty).
std::vector<std::string> split_class_names(const std::string& s);

}  // namespace ddpm::eval
