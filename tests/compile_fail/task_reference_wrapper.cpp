// std::ref of a function object is a reference: it cannot travel.
#include <functional>

#include "ringpool/pool/pool.hpp"

struct Twice {
  int operator()(int x) const { return 2 * x; }
};

int main() {
  ringpool::pool::Pool pool(1);
  Twice twice;
  (void)pool.submit(std::ref(twice), 1);
}
