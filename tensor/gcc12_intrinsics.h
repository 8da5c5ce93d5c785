// GCC 12's AVX-512 intrinsic headers trip -Wmaybe-uninitialized (and, in
// sanitizer builds, -Wuninitialized) wherever their code, or Eigen's packet
// code built on it, is inlined into ours: GCC bug 105593, fixed in GCC 13.
// A middle-end warning is judged by the pragma state at its location inside
// those headers, so this must come before their first inclusion in a
// translation unit: include this header first, in a block of its own, in
// every file that reaches <immintrin.h> (directly or through Eigen).
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
