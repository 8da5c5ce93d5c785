// libFuzzer target: the IDX reader (io/data.h) on arbitrary bytes,
// gzip or not; the body and the input layout are ddpm::fuzz::idx_one
// (fuzz_harness.h). Built and run by scripts/fuzz.sh; seeds in
// tests/fuzz/corpus/idx/.
#include "tests/fuzz/fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ddpm::fuzz::idx_one(data, size);
  return 0;
}
