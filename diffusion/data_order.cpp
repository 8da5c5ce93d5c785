#include "diffusion/data_order.h"

#include <numeric>
#include <utility>

#include "diffusion/streams.h"
#include "tensor/philox.h"

namespace ddpm {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  const uint64_t base = static_cast<uint64_t>(epoch) << 32;
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = philox::uniform_int(seed, streams::kDataOrder, base + static_cast<uint64_t>(i), i + 1);
    std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(j)]);
  }
  return p;
}

}  // namespace ddpm
