#include "nn/resblock.h"

#include <stdexcept>
#include <string>

#include "autograd/functions.h"

namespace ddpm::nn {

namespace {
constexpr uint64_t kBlockSpan = uint64_t{1} << 32;  // offsets per block and draw
constexpr uint64_t kMaxBlocks = 256;                // blocks per draw (2^40 / 2^32)
}  // namespace

ResBlock::ResBlock(int64_t in_channels, int64_t out_channels, int64_t emb_dim, int64_t groups, double dropout,
                   const DropoutDraw* draw, uint64_t index)
    : in_(in_channels), out_(out_channels), dropout_(dropout), draw_(draw), index_(index) {
  if (!(dropout_ >= 0 && dropout_ < 1))
    throw std::invalid_argument("ResBlock: dropout must be in [0, 1), got " + std::to_string(dropout_));
  if (dropout_ > 0 && !draw_)
    throw std::invalid_argument("ResBlock: dropout " + std::to_string(dropout_) + " needs a DropoutDraw");
  if (index_ >= kMaxBlocks)
    throw std::invalid_argument("ResBlock: index " + std::to_string(index_) + " must be below " +
                                std::to_string(kMaxBlocks) + " (dropout offsets)");
  norm1_ = register_module("norm1", std::make_shared<GroupNorm>(groups, in_));
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in_, out_, 3, 1, 1));
  time_emb_proj_ = register_module("time_emb_proj", std::make_shared<Linear>(emb_dim, out_));
  norm2_ = register_module("norm2", std::make_shared<GroupNorm>(groups, out_));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(out_, out_, 3, 1, 1));
  if (in_ != out_) conv_shortcut_ = register_module("conv_shortcut", std::make_shared<Conv2d>(in_, out_, 1));
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& emb) {
  if (x.dim() != 4 || x.size(1) != in_)
    throw std::invalid_argument("ResBlock::forward: x must be [N, " + std::to_string(in_) + ", H, W], got " +
                                x.desc());
  // conv1 + the time-embedding projection, added in conv1's epilogue.
  Tensor h = conv1_->forward(norm1_->forward_silu(x), time_emb_proj_->forward(silu(emb)));
  h = norm2_->forward_silu(h);
  if (dropout_ > 0 && draw_->training) {
    if (static_cast<uint64_t>(h.numel()) > kBlockSpan)
      throw std::invalid_argument("ResBlock: dropout over " + h.desc() + " needs more than 2^32 offsets");
    h = dropout(h, dropout_, draw_->seed, draw_->stream,
                draw_->draw * (kBlockSpan * kMaxBlocks) + index_ * kBlockSpan);
  }
  h = conv2_->forward(h);
  return add(conv_shortcut_ ? conv_shortcut_->forward(x) : x, h);
}

}  // namespace ddpm::nn
