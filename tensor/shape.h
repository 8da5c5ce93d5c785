// Shape: a list of dimension sizes, row-major (the last dimension is contiguous).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ddpm {

using Shape = std::vector<int64_t>;

// Product of the dimensions; 1 for a scalar (empty shape).
int64_t shape_numel(const Shape& s);
// "[4, 3, 32, 32]"
std::string shape_str(const Shape& s);
// Row-major strides, in elements.
std::vector<int64_t> contiguous_strides(const Shape& s);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when
// they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace ddpm
