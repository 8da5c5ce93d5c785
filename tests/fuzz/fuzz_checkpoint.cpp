// libFuzzer target: what the programs read from checkpoints besides tensors
// (model, training-state and classifier metadata; the loss.csv and eval.csv a
// resume reads back) on arbitrary bytes; the body and the input layout are
// ddpm::fuzz::checkpoint_one (fuzz_harness.h). Built and run by
// scripts/fuzz.sh; seeds in tests/fuzz/corpus/checkpoint/.
#include "tests/fuzz/fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ddpm::fuzz::checkpoint_one(data, size);
  return 0;
}
