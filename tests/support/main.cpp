// main() of the test binaries that need nothing before GoogleTest (see run_tests.hpp).
#include "run_tests.hpp"

int main(int argc, char** argv) {
  return ringpool::test::run_tests(argc, argv);
}
