// CUDA parity cases for the elementwise ops (filled in with their CUDA kernels).
#include "tests/gpu/parity.h"

namespace ddpm::test {

std::vector<ParityCase> parity_cases_elementwise() { return {}; }

}  // namespace ddpm::test
