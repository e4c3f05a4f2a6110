// A pointer to a function object would point into the parent process: refused.
#include <vector>

#include "ringpool/pool/pool.hpp"

struct Twice {
  int operator()(int x) const { return 2 * x; }
};

int main() {
  ringpool::pool::Pool pool(1);
  Twice twice;
  (void)pool.map(&twice, std::vector<int>{1, 2});
}
