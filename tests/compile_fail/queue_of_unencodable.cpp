// A Queue of a type with no Codec (a unique_ptr cannot travel between processes) is
// refused with a message that says what to do.
#include <memory>

#include "ringpool/pool/queue.hpp"

int main() {
  auto q = ringpool::pool::Queue<std::unique_ptr<int>>::create("compile_fail_queue", 4);
  (void)q;
}
