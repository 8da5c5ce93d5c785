// What the UNet is trained to output at x_t: the noise (epsilon) or the
// velocity v = sqrt(alphabar_t) * eps - sqrt(1 - alphabar_t) * x0 (Salimans &
// Ho 2022). A diffusion concept: the kernels below take it as a flag
// (q_sample's v_target, the samplers' v_pred).
#pragma once

#include <string>

namespace ddpm {

enum class Prediction { epsilon, v };

// "epsilon" or "v"; anything else throws std::invalid_argument naming it.
Prediction parse_prediction(const std::string& s);
const char* prediction_name(Prediction p);

}  // namespace ddpm
