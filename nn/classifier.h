// Classifier: a small CNN whose penultimate activations are the features of
// the built-in evaluation (Fréchet distance, precision/recall) and whose
// softmax gives the class probabilities of the Inception score
// (docs/evaluation.md, eval/classifier.h).
//
// Tree (PyTorch state_dict names), G = 8 groups in every GroupNorm:
//   block1  Sequential: 0 Conv2d(in, 32, 3, pad 1), 1 GroupNorm(G, 32), 2 SiLU
//   block2  Sequential: 0 Conv2d(32, 64, 3, pad 1), 1 GroupNorm(G, 64), 2 SiLU
//   block3  Sequential: 0 Conv2d(64, 128, 3, pad 1), 1 GroupNorm(G, 128), 2 SiLU
//   block4  Sequential: 0 Conv2d(128, 128, 3, pad 1), 1 GroupNorm(G, 128), 2 SiLU
//   head    Linear(128, num_classes)
//
// features(x [N, in, H, W]) =
//   global_avg_pool2d(block4(pool(block3(pool(block2(pool(block1(x))))))))
//   -> [N, kClassifierFeatures]; pool is 2x2 max pooling, so H and W must be
//   at least 8 (28x28 -> 14x14 -> 7x7 -> 3x3). Any larger size works: the
//   global average pooling makes the width of the features independent of
//   it. block4 at 3x3 sees the whole 28x28 image (receptive field 38 pixels),
//   so the pooled features describe the whole garment, not a patch of it.
// forward(x) = head(features(x)) -> logits [N, num_classes].
//
// Cost at 28x28: about 17.5 MFLOP per image forward (0.45 + 7.2 + 7.2 + 2.7
// for the four convolutions), 0.24 M parameters.
#pragma once

#include <cstdint>
#include <memory>

#include "nn/linear.h"
#include "nn/module.h"
#include "nn/sequential.h"

namespace ddpm::nn {

inline constexpr int64_t kClassifierFeatures = 128;

class Classifier : public Module {
 public:
  // Parameters in f32 drawn from (seed 0, parameter_stream(name)) with
  // PyTorch's default init; init_parameters(seed) re-draws them.
  Classifier(int64_t in_channels = 1, int64_t num_classes = 10);

  // x [N, in_channels, H, W], H, W >= 8 -> [N, kClassifierFeatures].
  Tensor features(const Tensor& x);
  // Logits [N, num_classes] = head(features(x)).
  Tensor forward(const Tensor& x);
  // The head applied to features [N, kClassifierFeatures].
  Tensor head(const Tensor& features);

  int64_t in_channels() const { return in_channels_; }
  int64_t num_classes() const { return num_classes_; }

 private:
  int64_t in_channels_, num_classes_;
  std::shared_ptr<Sequential> block1_, block2_, block3_, block4_;
  std::shared_ptr<Linear> head_;
};

}  // namespace ddpm::nn
