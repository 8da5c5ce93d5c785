// CUDA parity cases for the dense ops (filled in with their CUDA kernels).
#include "tests/gpu/parity.h"

namespace ddpm::test {

std::vector<ParityCase> parity_cases_dense() { return {}; }

}  // namespace ddpm::test
