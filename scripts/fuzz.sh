#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs each for SECONDS (default 60), starting
# from the committed seeds in tests/fuzz/corpus/<target>/. New inputs go to
# BUILD_DIR/corpus/<target>/ (the committed seeds are not modified); a crash
# is written to BUILD_DIR/crash-<target>-* and fails the script: fix it, and
# copy the input into tests/fuzz/regressions/<target>/, which the doctest
# suite replays (tests/test_fuzz_regressions.cpp; docs/reliability.md).
# Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]   (default: 60 build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --fuzz

secs=${1:-60}
build=${2:-build-fuzz}
mkdir -p "$build/obj"
cxx=${CXX_FUZZ:-clang++}
common=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
        -I. -isystem /usr/include/eigen3 -Wno-unknown-pragmas)
# The engine sources the readers need: the tensor layer, the binary kernel
# the IDX reader scales with, the io readers. OpenMP pragmas are left out.
sources=(tensor/allocator.cpp tensor/rng.cpp tensor/shape.cpp tensor/storage.cpp tensor/tensor.cpp
         tensor/nocuda/cuda_backend.cpp tensor/nocuda/device_query.cpp
         kernels/binary.cpp kernels/broadcast.cpp kernels/cpu/binary.cpp
         io/safetensors.cpp io/atomic_file.cpp io/data.cpp io/stb_impl.cpp)

objs=()
pids=()
for src in "${sources[@]}"; do
  obj="$build/obj/$(echo "$src" | tr '/' '_').o"
  objs+=("$obj")
  # Rebuilt when missing, or older than its source or any engine header.
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ -n "$(find tensor kernels io -name '*.h' -newer "$obj" -print -quit)" ]; then
    "$cxx" "${common[@]}" -w -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

status=0
for target in safetensors idx png; do
  exe="$build/fuzz_$target"
  "$cxx" "${common[@]}" -Wall -Wextra -fsanitize=fuzzer "tests/fuzz/fuzz_$target.cpp" "${objs[@]}" -lz -o "$exe"
  mkdir -p "$build/corpus/$target"
  # Past crash inputs, when the target has any (git keeps no empty folder).
  regressions=()
  [ -d "tests/fuzz/regressions/$target" ] && regressions=("tests/fuzz/regressions/$target")
  echo "fuzz.sh: $target for ${secs}s"
  # -rss_limit_mb: a reader must not need more than this for a 64 kB input.
  if ! "$exe" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$build/crash-$target-" "$build/corpus/$target" "tests/fuzz/corpus/$target" \
       "${regressions[@]}" 2> "$build/$target.log"; then
    echo "fuzz.sh: $target found a problem (see $build/$target.log and $build/crash-$target-*)" >&2
    tail -40 "$build/$target.log" >&2
    status=1
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added|^#[0-9]+ +DONE" "$build/$target.log" || true
done
exit $status
