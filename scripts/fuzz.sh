#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz/ with clang (AddressSanitizer +
# UndefinedBehaviorSanitizer) and runs each, starting from the committed
# seeds (tests/fuzz/corpus/<target>/), the committed campaign corpus
# (tests/fuzz/minimized/<target>/) and the past findings
# (tests/fuzz/regressions/<target>/). New inputs go to BUILD_DIR/corpus/<target>/;
# a crash is written to BUILD_DIR/crash-<target>-* and fails the script: fix
# it, and copy the input into tests/fuzz/regressions/<target>/, which the
# doctest suite replays (tests/test_fuzz_regressions.cpp; docs/reliability.md).
#
# Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET...]
#          each target for SECONDS (default 60; build-fuzz; all targets)
#        scripts/fuzz.sh --campaign MINUTES [--runs N] [BUILD_DIR] [TARGET...]
#          a campaign: each target for MINUTES (or until N executions), then
#          its corpus merged and minimised (libFuzzer -merge=1: the inputs that
#          add edges beyond the seeds and regressions) into
#          tests/fuzz/minimized/<target>/, which replaces what was there; a
#          row of statistics per target is appended to BUILD_DIR/campaign.md.
set -euo pipefail
cd "$(dirname "$0")/.."
campaign=0
runs=0
if [ "${1:-}" = "--campaign" ]; then
  campaign=1
  secs=$(( ${2:?--campaign needs MINUTES} * 60 ))
  shift 2
  if [ "${1:-}" = "--runs" ]; then runs=${2:?--runs needs a count}; shift 2; fi
else
  secs=${1:-60}
  [ $# -gt 0 ] && shift
fi
build=${1:-build-fuzz}
[ $# -gt 0 ] && shift
all_targets=(safetensors idx png checkpoint)
# The longest input each target is given: enough for every structure its
# reader walks (a header with dozens of entries, a few PNG chunks, IDX
# headers with data), small enough that the minimised corpus stays small
# and the executions fast.
declare -A max_len=([safetensors]=8192 [idx]=4096 [png]=16384 [checkpoint]=4096)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/fuzz_$t.cpp" ] || { echo "fuzz.sh: no target '$t' (expected one of: ${all_targets[*]})" >&2; exit 2; }
done
bash scripts/install-deps.sh --fuzz

mkdir -p "$build/obj"
cxx=${CXX_FUZZ:-clang++}
common=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
        -I. -isystem /usr/include/eigen3 -Wno-unknown-pragmas)
# The engine sources the readers need: the tensor layer, the binary kernel
# the IDX reader scales with (and the op profile its device switch can
# record into), the io readers. OpenMP pragmas are left out.
sources=(tensor/allocator.cpp tensor/rng.cpp tensor/shape.cpp tensor/storage.cpp tensor/tensor.cpp
         tensor/nocuda/cuda_backend.cpp tensor/nocuda/device_query.cpp
         kernels/binary.cpp kernels/broadcast.cpp kernels/op_profile.cpp kernels/cpu/binary.cpp
         io/safetensors.cpp io/atomic_file.cpp io/data.cpp io/stb_impl.cpp io/loss_csv.cpp io/eval_csv.cpp
         diffusion/train_config.cpp diffusion/model_metadata.cpp diffusion/resume.cpp
         diffusion/scheduler.cpp diffusion/lr_schedule.cpp nn/unet_config.cpp eval/classifier_metadata.cpp)

objs=()
pids=()
for src in "${sources[@]}"; do
  obj="$build/obj/$(echo "$src" | tr '/' '_').o"
  objs+=("$obj")
  # Rebuilt when missing, or older than its source or any engine header.
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ -n "$(find tensor kernels io nn diffusion eval -name '*.h' -newer "$obj" -print -quit)" ]; then
    "$cxx" "${common[@]}" -w -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
    pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  fi
done
for p in "${pids[@]}"; do wait "$p"; done

status=0
for target in "${targets[@]}"; do
  exe="$build/fuzz_$target"
  "$cxx" "${common[@]}" -Wall -Wextra -fsanitize=fuzzer "tests/fuzz/fuzz_$target.cpp" "${objs[@]}" -lz -o "$exe"
  mkdir -p "$build/corpus/$target"
  # The committed inputs that exist (git keeps no empty folder).
  committed=()
  for kind in corpus minimized regressions; do
    [ -d "tests/fuzz/$kind/$target" ] && committed+=("tests/fuzz/$kind/$target")
  done
  limits=(-max_total_time="$secs")
  [ "$runs" -gt 0 ] && limits+=(-runs="$runs")
  echo "fuzz.sh: $target for ${secs}s$([ "$runs" -gt 0 ] && echo " or $runs executions")"
  started=$SECONDS
  # -rss_limit_mb: a reader must not need more than this for a small input.
  if ! "$exe" "${limits[@]}" -max_len="${max_len[$target]}" -rss_limit_mb=1024 -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$build/crash-$target-" "$build/corpus/$target" "${committed[@]}" \
       2> "$build/$target.log"; then
    echo "fuzz.sh: $target found a problem (see $build/$target.log and $build/crash-$target-*)" >&2
    tail -40 "$build/$target.log" >&2
    status=1
    continue
  fi
  grep -E "^stat::number_of_executed_units|^stat::new_units_added" "$build/$target.log" || true
  [ $campaign -eq 1 ] || continue

  # Minimise: start from the seeds and regressions (always replayed anyway)
  # and let libFuzzer add only the inputs that bring new coverage.
  merged="$build/merge-$target"
  rm -rf "$merged" && mkdir -p "$merged"
  baseline=()
  for kind in corpus regressions; do
    if [ -d "tests/fuzz/$kind/$target" ]; then
      cp "tests/fuzz/$kind/$target"/* "$merged"/
      for f in "tests/fuzz/$kind/$target"/*; do baseline+=("$(basename "$f")"); done
    fi
  done
  from=("$build/corpus/$target")
  [ -d "tests/fuzz/minimized/$target" ] && from+=("tests/fuzz/minimized/$target")
  # -use_counters=0: an input is kept for the edges it reaches, not for how
  # often it runs them (hit-count buckets keep 4x the inputs for no new code).
  "$exe" -merge=1 -use_counters=0 -max_len="${max_len[$target]}" -rss_limit_mb=1024 -timeout=10 "$merged" "${from[@]}" 2> "$build/$target.merge.log"
  for f in "${baseline[@]}"; do rm -f "$merged/$f"; done
  rm -rf "tests/fuzz/minimized/$target" && mkdir -p "tests/fuzz/minimized/$target"
  cp "$merged"/* "tests/fuzz/minimized/$target"/ 2>/dev/null || true
  kept=$(find "tests/fuzz/minimized/$target" -type f | wc -l)
  bytes=$(du -sb "tests/fuzz/minimized/$target" | cut -f1)
  final() { grep -E "^stat::$1:" "$build/$target.log" | awk '{print $2}'; }
  done_line=$(grep -E "^#[0-9]+[[:space:]].* cov: " "$build/$target.log" | tail -1 || true)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<< "$done_line")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<< "$done_line")
  [ -f "$build/campaign.md" ] ||
    echo "| target | date | seconds | executions | exec/s | edges | features | minimised corpus | peak RSS MB | findings |" > "$build/campaign.md"
  printf '| %s | %s | %s | %s | %s | %s | %s | %s files, %s bytes | %s | 0 |\n' "$target" "$(date -u +%F)" \
    "$((SECONDS - started))" "$(final number_of_executed_units)" \
    "$(final average_exec_per_sec)" "$cov" "$ft" "$kept" "$bytes" "$(final peak_rss_mb)" | tee -a "$build/campaign.md"
done
exit $status
