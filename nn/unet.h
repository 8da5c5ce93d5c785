// The UNet the trainer, the samplers, checkpoints and tools use: one class,
// two layouts chosen by UNetConfig::arch.
//
//   arch simple (the default): the seed's SimpleUNet, described below.
//   arch ddpm: the DDPM paper's / diffusers' UNet2DModel layout (ResBlocks,
//     self-attention, channel multipliers). Its layers are built and run by
//     DdpmUNetBody (nn/unet_ddpm.h, which lists the tree), registered
//     directly on this UNet, so its parameter names are diffusers' flat names
//     ("conv_in.weight", "down_blocks.0.resnets.0.norm1.weight", ...); PyTorch
//     twin: tests/reference/unet_ddpm_twin.py. A class-conditional ddpm
//     model may also cross-attend to class tokens
//     (UNetConfig::cross_attention_tokens): forward() makes them from the
//     same labels as the class embedding.
// Both take the same inputs, embed time the same way (a sinusoid into an MLP;
// ddpm: a c0 = base_channels x channel_mult[0] wide sinusoid into
// time_embedding), add the class embedding to the time embedding and join an
// image condition to x before the first convolution; forward() checks the
// inputs once and then runs the chosen body.
//
// ---- arch simple ----
// The seed's SimpleUNet, with its time embedding actually used.
//
// Tree (names as PyTorch's state_dict of tests/reference/unet_twin.py):
//   time_mlp    Sequential: 0 Linear(1, D), 1 SiLU, 2 Linear(D, D)     (linear)
//               or          0 Linear(D, D), 1 SiLU, 2 Linear(D, D)     (sinusoidal)
//   enc1..dec1  conv blocks, Sequential: 0 Conv2d(in, out, 3, pad 1),
//               1 GroupNorm(groups, out), 2 SiLU, 3 Conv2d(out, out, 3, pad 1),
//               4 GroupNorm(groups, out), 5 SiLU
//   final       Conv2d(base, in_channels, 1)
//   time_proj   one Linear(D, out_ch) per block: time_proj.enc1, .enc2, .enc3,
//               .bottleneck, .dec3, .dec2, .dec1 (so "time_proj.enc1.weight")
//   class_embedding  Embedding(K + 1, D), only for a class-conditional model
//               (num_classes K > 0): row k < K is class k, row K "no class"
//               (diffusers' UNet2DModel name and place: added to the time
//               embedding)
// Channels (b = base, c = cond_channels, 0 unless image-conditional): enc1
// in+c->b, enc2 b->2b, enc3 2b->4b, bottleneck 4b->8b,
// dec3 12b->4b, dec2 6b->2b, dec1 3b->b.
//
// forward(x [N, C, H, W], t [N][, labels][, cond [N, c, H, W]]):
//   x = cat(x, cond)                                      (image-conditional:
//                                                          the seed's easy_conditioning)
//   emb = time_mlp(t / 1000 as [N, 1])                   (linear)
//       = time_mlp(sinusoid(t) [N, D])                    (sinusoidal)
//   emb += class_embedding(labels)                        (class-conditional)
//   block_out(name, h) = name(h) + time_proj.name(emb) as [N, out, 1, 1]
//   e1 = enc1(x); e2 = enc2(pool e1); e3 = enc3(pool e2); b = bottleneck(pool e3)
//   d3 = dec3(cat(up b, e3)); d2 = dec2(cat(up d3, e2)); d1 = dec1(cat(up d2, e1))
//   return final(d1)
// pool is 2x2 max pooling and up is 2x bilinear upsampling with align_corners,
// so H and W must be divisible by 8. The seed computed the embedding and never
// used it; here every block gets its own projection of it, added per channel
// after the block's last SiLU.
//
// The sinusoidal embedding (DDPM / tensor2tensor convention) of width D
// (ddpm: of width c0), half = D / 2:  freq_i = exp(-ln(10000) * i / (half - 1)), i < half,
//   sinusoid(t) = [sin(t * freq_0..half-1), cos(t * freq_0..half-1)].
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/conv2d.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/sequential.h"
#include "nn/unet_config.h"

namespace ddpm::nn {

class DdpmUNetBody;

class UNet : public Module {
 public:
  // Parameters in f32, drawn from (seed, parameter_stream(name)) with
  // PyTorch's default init.
  explicit UNet(const UNetConfig& config, uint64_t seed = 0);
  ~UNet() override;

  // x [N, in_channels, H, W] with H, W divisible by config().size_multiple()
  // (simple: 8; ddpm: 2^(levels - 1)); t [N] timesteps as
  // floats of x's dtype and device. Returns [N, in_channels, H, W].
  // labels: a class-conditional model's class per image, [N] values in
  // [0, num_classes] (num_classes: "no class"); empty means no class for
  // every image. An unconditional model takes none.
  // cond: an image-conditional model's condition [N, cond_channels, H, W]
  // (x's dtype and device), required by such a model and refused by others.
  Tensor forward(const Tensor& x, const Tensor& t, const std::vector<int64_t>& labels = {},
                 const Tensor& cond = Tensor());
  Tensor operator()(const Tensor& x, const Tensor& t) { return forward(x, t); }
  // The "no class" label of a class-conditional model (num_classes).
  int64_t null_label() const { return config_.num_classes; }
  // The embedding [N, time_embed_dim] of timesteps t [N].
  Tensor embed_time(const Tensor& t);

  const UNetConfig& config() const { return config_; }

  // Dropout (a ddpm model with config().dropout > 0; otherwise no effect):
  // on for the forwards that follow set_dropout(true, ...), with masks from
  // Philox (seed, stream) at draw `draw` (one per training forward; see
  // nn/resblock.h); off (the default) for sampling and evaluation.
  void set_dropout(bool training, uint64_t seed = 0, uint64_t stream = 0, uint64_t draw = 0);

 private:
  Tensor block(const std::shared_ptr<Sequential>& b, const std::shared_ptr<Linear>& proj, const Tensor& h,
               const Tensor& emb);
  // The simple layout's body: input (x joined with the condition) and the
  // embedding to the output.
  Tensor forward_simple(const Tensor& input, const Tensor& emb);
  // The sinusoid [N, width] of t [N].
  Tensor sinusoid(const Tensor& t, int64_t width);

  UNetConfig config_;
  std::unique_ptr<DdpmUNetBody> ddpm_;  // arch ddpm only; then the simple members below are null
  std::shared_ptr<Sequential> time_mlp_, enc1_, enc2_, enc3_, bottleneck_, dec3_, dec2_, dec1_;
  std::shared_ptr<Conv2d> final_;
  std::shared_ptr<Embedding> class_embedding_;  // null when unconditional (either arch)
  std::shared_ptr<Linear> proj_enc1_, proj_enc2_, proj_enc3_, proj_bottleneck_, proj_dec3_, proj_dec2_,
      proj_dec1_;
  // The sinusoidal embedding's frequencies [1, D/2], kept on the device and
  // dtype of the last t: made once, not copied from the host every forward.
  Tensor freqs_;
};

}  // namespace ddpm::nn
