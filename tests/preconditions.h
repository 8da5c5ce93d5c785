// Preconditions of the conditional test groups (issue 19, "honest tests").
//
// A test that cannot run here is reported skipped, never passed: each
// conditional group is its own CTest entry, started as
//   ddpm_tests --require=<precondition> --test-case=<group>:* --no-skip
// and registered with SKIP_RETURN_CODE 77. main() checks every --require at
// run time (not at configure time: the data may be installed later) and, when
// one does not hold, prints what is missing and how to get it and exits 77,
// which CTest reports as "Skipped".
//
// Inside the group's test cases DDPM_REQUIRE_PRECONDITION fails the case (it
// never returns early as a pass), and the `* ddpm::test::unless_missing(...)`
// decorator marks the case skipped for a bare run of the binary (doctest
// prints the skip count; python-safetensors has none, a bare run fails it
// where the package is missing); CTest passes --no-skip, so there the
// decorator never hides a case. List every case, skipped ones included, with
// `ddpm_tests --list-test-cases --no-skip`.
//
// DDPM_TEST_PRETEND_MISSING=name[,name...] makes the named preconditions
// report missing, to check the skip path where they do hold.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "dist/distributed.h"
#include "dist/distributed_nccl.h"
#include "io/data.h"
#include "tensor/cuda_backend.h"

namespace ddpm::test {

inline bool pretend_missing(std::string_view name) {
  const char* v = std::getenv("DDPM_TEST_PRETEND_MISSING");
  if (v == nullptr) return false;
  std::stringstream list(v);
  for (std::string item; std::getline(list, item, ',');)
    if (item == name) return true;
  return false;
}

// True when `name` is a precondition this file knows.
inline bool known_precondition(std::string_view name) {
  for (const char* k :
       {"nonroot", "fashion-mnist", "python", "python-safetensors", "mpi", "caching-allocator", "nccl"})
    if (name == k) return true;
  return false;
}

// "" when the named precondition holds here, else what is missing and how to
// get it (one line).
inline std::string missing_precondition(std::string_view name) {
  namespace fs = std::filesystem;
  if (!known_precondition(name)) return "unknown precondition '" + std::string(name) + "'";
  const bool pretend = pretend_missing(name);
  const std::string why_pretend = " (DDPM_TEST_PRETEND_MISSING)";
  if (name == "nonroot") {
    if (pretend || ::geteuid() == 0)
      return "running as root, which ignores file permissions; run the tests as a non-root user to check "
             "permission errors" +
             (pretend ? why_pretend : "");
    return "";
  }
  if (name == "fashion-mnist") {
    if (pretend || !fs::is_directory(kFashionMnistDir))
      return std::string(kFashionMnistDir) +
             " is absent; install dataset-fashion-mnist (scripts/install-deps.sh)" +
             (pretend ? why_pretend : "");
    return "";
  }
  const std::string python = "/usr/bin/python3";
  if (name == "python") {
    if (pretend || ::access(python.c_str(), X_OK) != 0)
      return python + " not found; install python3 (scripts/install-deps.sh)" + (pretend ? why_pretend : "");
    return "";
  }
  if (name == "python-safetensors") {
    if (!pretend && ::access(python.c_str(), X_OK) != 0)
      return python + " not found; install python3 (scripts/install-deps.sh), then the safetensors package";
      // The same search path as tests/reference/check_safetensors.py.
#ifdef DDPM_TEST_DATA_DIR
    const std::string deps =
        (fs::path(DDPM_TEST_DATA_DIR).parent_path().parent_path() / ".deps" / "python").string();
#else
    const std::string deps = ".deps/python";
#endif
    const std::string probe = python + " -c \"import sys; sys.path.append('" + deps +
                              "'); import numpy, safetensors.numpy\" >/dev/null 2>&1";
    if (pretend || std::system(probe.c_str()) != 0)
      return "Python's safetensors package (with numpy) does not import; install it with `pip install "
             "--target " +
             deps + " safetensors numpy`" + (pretend ? why_pretend : "");
    return "";
  }
  if (name == "mpi") {
#ifdef DDPM_MPIEXEC
    if (pretend || ::access(DDPM_MPIEXEC, X_OK) != 0)
      return std::string(DDPM_MPIEXEC) + " not found; install Open MPI (scripts/install-deps.sh --mpi)" +
             (pretend ? why_pretend : "");
    if (dist::launched_by_mpi())
      return "this process was started by mpirun; the mpi tests start mpirun themselves";
    return "";
#else
    return "this build has no MPI; install Open MPI (scripts/install-deps.sh --mpi) and configure again";
#endif
  }
  if (name == "caching-allocator") {
    if (pretend || cuda::direct_alloc_mode())
      return "DDPM_CUDA_DIRECT_ALLOC is set, which bypasses the caching allocator; unset it to check the "
             "allocator" +
             (pretend ? why_pretend : std::string());
    return "";
  }
  if (name == "nccl") {
#ifdef DDPM_NCCL
    std::string why;
    if (pretend || !dist::nccl::load(&why))
      return "NCCL cannot be used: " + (pretend ? why_pretend : why) +
             "; install libnccl2 (the CUDA repository's package) on the GPU machine";
    return "";
#else
    return "this build has no NCCL (nccl.h was not found when configuring; it comes with the CUDA toolkit "
           "or libnccl-dev)";
#endif
  }
  return "unknown precondition '" + std::string(name) + "'";
}

// Decorator for a conditional case: skipped (not passed) in a bare run of the
// binary when the precondition does not hold; CTest runs with --no-skip.
// Evaluated when the binary starts, so only for cheap checks (not
// python-safetensors, which starts Python).
inline doctest::skip unless_missing(std::string_view name) {
  return doctest::skip(!missing_precondition(name).empty());
}

// For a test binary's main(): handles every --require=<precondition> in argv
// and copies the other arguments to `rest`. Returns -1 when all hold (run the
// tests on `rest`), 77 when one does not (after printing what is missing and
// how to get it), 2 for an unknown name.
inline int check_required(int argc, char** argv, const char* prog, std::vector<char*>& rest) {
  constexpr std::string_view kRequire = "--require=";
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i == 0 || arg.substr(0, kRequire.size()) != kRequire) {
      rest.push_back(argv[i]);
      continue;
    }
    const std::string name(arg.substr(kRequire.size()));
    if (!known_precondition(name)) {
      std::fprintf(stderr, "%s: unknown precondition '%s' in %s\n", prog, name.c_str(), argv[i]);
      return 2;
    }
    const std::string missing = missing_precondition(name);
    if (!missing.empty()) {
      std::printf("%s: skipped (precondition '%s'): %s\n", prog, name.c_str(), missing.c_str());
      std::fflush(stdout);
      return 77;
    }
  }
  return -1;
}

}  // namespace ddpm::test

// First statement of a conditional case: fails it, with the reason, when the
// precondition does not hold (CTest has skipped the group then; a run that
// reaches this anyway must not pass).
#define DDPM_REQUIRE_PRECONDITION(name)                                                  \
  do {                                                                                   \
    const std::string ddpm_missing_ = ::ddpm::test::missing_precondition(name);          \
    REQUIRE_MESSAGE(ddpm_missing_.empty(),                                               \
                    "precondition '" << (name) << "' does not hold: " << ddpm_missing_); \
  } while (0)
