#!/usr/bin/env bash
# Builds the project and runs the test suite. Installs missing Debian packages
# first. The CUDA backend is compiled whenever nvcc is found (at
# /usr/local/cuda or on PATH), so a broken kernel fails here even on a machine
# without a GPU; the GPU tests then report skipped.
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
deps=(--mpi)  # Open MPI: the distributed tests
# With the CUDA toolkit, cuobjdump too: the kernel_sass test reads the SASS.
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then deps+=(--sass); fi
bash scripts/install-deps.sh "${deps[@]}"

build=${1:-build}
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDDPM_WERROR=ON
cmake --build "$build" -j "$jobs"

# CTest prints its own summary (skipped entries under "did not run"); the last
# line is ours: "N passed, N failed, N skipped", counted from CTest's JUnit
# report. A skipped entry is one whose precondition does not hold here (it
# exited 77, SKIP_RETURN_CODE) or a disabled one; an entry CTest could not run
# (a missing executable) is a failure, as in CTest's own count.
junit="$(cd "$build" && pwd)/ctest-junit.xml"
rm -f "$junit"
rc=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" --output-junit "$junit" || rc=$?
if [ ! -s "$junit" ]; then
  echo "test.sh: ctest wrote no JUnit report ($junit); ctest exit status $rc"
  echo "0 passed, 0 failed, 0 skipped (no results)"
  exit $(( rc != 0 ? rc : 1 ))
fi
read -r passed failed skipped < <(awk '
  /<testcase / { st = ""; if (match($0, /status="[a-z]+"/)) { st = substr($0, RSTART + 8, RLENGTH - 9); pending = (st == "notrun") }
                 if (st == "run") p++; else if (st == "disabled") s++; else if (st != "notrun") f++; next }
  pending { if ($0 ~ /<skipped message="SKIP_RETURN_CODE=/) s++; else f++; pending = 0 }
  END { if (pending) f++; printf "%d %d %d\n", p, f, s }' "$junit")
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$rc" -ne 0 ]; then exit "$rc"; fi
if [ "$failed" -ne 0 ]; then exit 1; fi
