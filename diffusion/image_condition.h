// Image conditioning by concatenation (the seed's easy_conditioning): the
// condition is computed from the clean image, joined to x_t as extra input
// channels (nn/unet.h, cond_channels), and the model learns to complete it.
//
// superres, low resolution s (TrainConfig::superres_from): with factor
// f = H / s (W divisible by f too), the low-resolution image is the mean of
// each f x f block, [C, s, W / f], and the condition is it upsampled back by
// repeating each pixel f x f times (nearest), [C, H, W].
// inpaint: a box mask m [1, H, W] (1 inside the box: the pixels to fill, 0
// elsewhere); the condition is [x * (1 - m), m], [C + 1, H, W], so a
// masked pixel reads 0 (mid grey) and the mask says which pixels those are.
// Training draws one box per image: height and width each uniform in
// [max(1, H / 4), max(1, H / 2)] (W likewise), its corner uniform over the
// places it fits, from Philox stream kInpaintMask at indices 4i..4i+3 for
// the image's sample index i (the same index as its timestep), so a resumed
// run draws the same boxes. Sampling uses the centre box (H / 2 x W / 2,
// centred) unless told otherwise.
//
// Everything here works on host f32 tensors [N, C, H, W] (the data set lives
// on the host); conditioned_model moves a condition to the sampler's device.
#pragma once

#include <cstdint>
#include <vector>

#include "diffusion/sampler.h"
#include "diffusion/train_config.h"
#include "io/images.h"
#include "nn/unet.h"
#include "tensor/tensor.h"

namespace ddpm {

// check_condition_geometry and superres_factor: diffusion/train_config.h.

// [N, C, H, W] -> [N, C, H / f, W / f]: the mean of every f x f block.
Tensor downsample_mean(const Tensor& images, int64_t factor);
// [N, C, h, w] -> [N, C, h * f, w * f]: every pixel repeated f x f times.
Tensor upsample_nearest(const Tensor& images, int64_t factor);

struct MaskBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};
// Training's box for sample index `index` (above).
MaskBox random_mask_box(int64_t h, int64_t w, uint64_t seed, uint64_t stream, uint64_t index);
// The h / 2 x w / 2 box in the middle.
MaskBox center_mask_box(int64_t h, int64_t w);
// [N, 1, h, w] masks, 1 inside box i of image i, 0 elsewhere.
Tensor box_masks(const std::vector<MaskBox>& boxes, int64_t h, int64_t w);

// The condition of `images` for cfg's task: [N, C, H, W] for superres,
// [N, C + 1, H, W] for inpaint, which needs `masks` [N, 1, H, W] of 0 and 1
// (unused for superres). Throws std::invalid_argument on a shape mismatch.
Tensor make_condition(const TrainConfig& cfg, const Tensor& images, const Tensor& masks = Tensor());

// The model's prediction for x_t given `cond` [N, cond_channels, H, W] (on
// the host or the sampler's device; copied there once).
DenoiseFn conditioned_model(nn::UNet& model, const Tensor& cond);

// The condition as a picture of the images' channels, [N, C, H, W]: superres
// the upsampled low resolution; inpaint the masked image (grey box).
Tensor condition_picture(const TrainConfig& cfg, const Tensor& cond);
// Side-by-side panels for a grid: for image i, condition_picture i, sample i
// and (when given) original i, consecutively: [2N or 3N, C, H, W]. A grid
// with nrow a multiple of completion_panel_width shows them in a row.
Tensor completion_panels(const TrainConfig& cfg, const Tensor& cond, const Tensor& samples,
                         const Tensor& originals = Tensor());
// 3 with originals, else 2.
inline int64_t completion_panel_width(bool with_originals) { return with_originals ? 3 : 2; }

// How far completions are from what they should reproduce, as root mean
// squared differences in model units ([-1, 1]; 2/255 is one grey level):
//   kept:     superres: the samples' low-resolution images vs the
//             condition's (how well a sample keeps what it was given);
//             inpaint: the samples vs the condition outside the box.
//   original: the samples vs the originals (when known; NaN otherwise);
//   baseline: the condition alone vs the originals (superres: the
//             upsampled low resolution; inpaint: inside the box, mid grey);
//             original and baseline are over the box only for inpaint.
// With a crop (the original image inside the padded frame) the pixel
// differences count inside it only (superres' kept, on the low-resolution
// frame, counts everywhere).
struct CompletionError {
  double kept = 0, original = 0, baseline = 0;
};
CompletionError completion_error(const TrainConfig& cfg, const Tensor& samples, const Tensor& cond,
                                 const Tensor& originals = Tensor(), const CropBox& crop = {});

}  // namespace ddpm
