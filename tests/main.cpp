// The CPU test binary. Besides doctest's options it takes
// --require=<precondition> (tests/preconditions.h), any number of times:
// when one does not hold it prints what is missing and how to get it and
// exits 77, which CTest reports as skipped (SKIP_RETURN_CODE 77).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <vector>

#include "tests/preconditions.h"

int main(int argc, char** argv) {
  std::vector<char*> args;
  if (const int rc = ddpm::test::check_required(argc, argv, "ddpm_tests", args); rc >= 0) return rc;
  doctest::Context ctx(static_cast<int>(args.size()), args.data());
  return ctx.run();
}
