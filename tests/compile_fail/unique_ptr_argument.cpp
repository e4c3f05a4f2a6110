// A std::unique_ptr as a task argument: it owns memory of this process only.
#include <memory>

#include "ringpool/pool/pool.hpp"

int deref(std::unique_ptr<int> p) {
  return *p;
}

int main() {
  ringpool::pool::Pool pool(1);
  (void)pool.submit(deref, std::make_unique<int>(7)).get();
}
