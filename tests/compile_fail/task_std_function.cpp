// A std::function cannot be a task: its target is type-erased and cannot travel.
#include <functional>

#include "ringpool/pool/pool.hpp"

int main() {
  ringpool::pool::Pool pool(1);
  const std::function<int(int)> f = [](int x) { return x; };
  (void)pool.submit(f, 1);
}
