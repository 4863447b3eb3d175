// Writes the unit tests' small kdump-shaped test kernel (tests/testing/core_builder.h) to a
// file, for integration tests of the front ends that need a valid source and nothing more.
#include <cstdio>

#include "tests/testing/core_builder.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_test_core FILE\n");
    return 2;
  }
  kcorefs::testing::TestKernel::Kdump().WriteTo(argv[1]);
  return 0;
}
