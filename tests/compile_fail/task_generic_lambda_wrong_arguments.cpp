// A generic lambda takes its parameter types from the arguments: one that cannot be called
// with them is refused with that explanation.
#include "ringpool/pool/pool.hpp"

int main() {
  ringpool::pool::Pool pool(1);
  (void)pool.submit([](auto* p) { return *p; }, 1);
}
