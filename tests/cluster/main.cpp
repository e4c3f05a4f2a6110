// main() of the cluster tests: every rank starts here under mpirun; cluster::init keeps
// ranks 1.. serving tasks, and rank 0 runs the GoogleTest cases (see run_tests.hpp).
#include "ringpool/cluster/cluster.hpp"
#include "run_tests.hpp"

int main(int argc, char** argv) {
  ringpool::cluster::init(argc, argv);
  return ringpool::test::run_tests(argc, argv);
}
