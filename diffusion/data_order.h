// The data order of an epoch: a permutation of [0, n) that is a function of
// (seed, epoch) alone, so resuming at step s reproduces the batches exactly.
// Fisher-Yates driven by Philox (stream kDataOrder, counter epoch * 2^32 + i).
#pragma once

#include <cstdint>
#include <vector>

namespace ddpm {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

}  // namespace ddpm
