// A std::unique_ptr as a task result: it would own memory of the worker process.
#include <memory>

#include "ringpool/pool/pool.hpp"

std::unique_ptr<int> make(int v) {
  return std::make_unique<int>(v);
}

int main() {
  ringpool::pool::Pool pool(1);
  (void)pool.submit(make, 7).get();
}
