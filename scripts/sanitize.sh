#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer (with LeakSanitizer) build of
# the CPU engine, the CPU tests and the programs, which the `tools:` tests
# run, so they run sanitized too; then ctest on it.
#
# CPU only (-DDDPM_WITH_CUDA=OFF). RelWithDebInfo at -O2 -g1: Debug Eigen
# makes the suite ~10x slower, and so does -O1, which inlines too little of
# Eigen; line tables only (-g1) compile in about 70% of the time of -g, and
# reports still name file and line. The tests' and the programs' own sources
# (they orchestrate; the time is spent in the libraries) at -O1
# (DDPM_DRIVER_OPT): about a third less compile time. No -march=native (GCC
# 12 reports false -Wuninitialized in its AVX-512 intrinsics under the
# sanitizers, and the checks do not need the widest vectors) and warnings not
# fatal (the normal build holds them at zero). A sanitizer report fails the
# test it happens in: ASan exits 86, UBSan 87 (never 1, which the tools:
# tests expect for refused input).
#
# Usage: scripts/sanitize.sh [BUILD_DIR] [extra ctest arguments]
#   (default build-asan). SANITIZE_EXCLUDE: a ctest -E regex of groups to
#   leave out. Default: the gpu, gpu-allocator and gpu-nccl entries (they need a GPU
#   and a CUDA build) and fashion-mnist, the real-data cases: they train the
#   evaluation classifier on thousands of real images, minutes under the
#   sanitizers on two cores, and their code paths run sanitized on synthetic
#   data in the eval: and data: groups (and the IDX reader under the fuzzer);
#   and learning, tiny models trained to a quality bar (about 20 s plain,
#   over 4 minutes sanitized; the code they run is sanitized through the
#   other groups). scripts/test.sh runs them unsanitized.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

build=${1:-build-asan}
shift || true
jobs=$(nproc 2>/dev/null || echo 2)
# Without MPI: Open MPI's own start-up allocations are reported by
# LeakSanitizer as leaks in every MPI process; the data-parallel code runs
# sanitized through its thread-backed communicator tests instead.
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DDDPM_DRIVER_OPT=-O1 \
  -DDDPM_WITH_CUDA=OFF -DDDPM_SANITIZE=ON \
  -DDDPM_NATIVE=OFF -DDDPM_WERROR=OFF -DDDPM_WITH_MPI=OFF
# The tests and the programs they run; the benchmarks are not needed.
cmake --build "$build" -j "$jobs" --target ddpm_tests

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:exitcode=86:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:exitcode=87}
ctest --test-dir "$build" --output-on-failure -j "$jobs" -E "${SANITIZE_EXCLUDE:-^(gpu|gpu-allocator|gpu-nccl|fashion-mnist|learning)$}" "$@"
