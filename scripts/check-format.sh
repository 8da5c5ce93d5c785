#!/usr/bin/env bash
# Fails when a tracked C++/CUDA source differs from .clang-format (the CTest
# entry `format`). With --fix, rewrites them instead.
# Usage: scripts/check-format.sh [--fix]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null ||
  { echo "check-format: clang-format not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh')
if [ ${#files[@]} -eq 0 ]; then
  echo "check-format: no tracked sources (not a git checkout?)" >&2
  exit 2
fi
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  echo "check-format: formatted ${#files[@]} files"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -ne 0 ]; then
  printf 'check-format: differs from .clang-format: %s\n' "${bad[@]}"
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ; run scripts/check-format.sh --fix"
  exit 1
fi
echo "check-format: ${#files[@]} files match .clang-format ($(clang-format --version | head -1))"
