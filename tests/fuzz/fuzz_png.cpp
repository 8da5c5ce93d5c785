// libFuzzer target: the PNG reader (io/data.h decode_png, stb_image behind
// our checks) on arbitrary bytes; the body and the input layout are
// ddpm::fuzz::png_one (fuzz_harness.h). Built and run by scripts/fuzz.sh;
// seeds in tests/fuzz/corpus/png/.
#include "tests/fuzz/fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ddpm::fuzz::png_one(data, size);
  return 0;
}
