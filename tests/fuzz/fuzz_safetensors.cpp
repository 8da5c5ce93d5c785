// libFuzzer target: the safetensors reader (io/safetensors.h) on arbitrary
// bytes; the body is ddpm::fuzz::safetensors_one (fuzz_harness.h). Built and
// run by scripts/fuzz.sh; seeds in tests/fuzz/corpus/safetensors/.
#include "tests/fuzz/fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ddpm::fuzz::safetensors_one(data, size);
  return 0;
}
