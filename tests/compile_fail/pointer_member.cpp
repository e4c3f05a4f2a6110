// A struct with a raw pointer member as a Pool::map input: the pointer would not point
// at anything in the worker, so the struct cannot travel.
#include <vector>

#include "ringpool/pool/pool.hpp"

struct Message {
  int id;
  const double* values;  // refused: the bytes it points to stay in this process
};

int first_id(Message m) {
  return m.id;
}

int main() {
  ringpool::pool::Pool pool(1);
  const std::vector<Message> messages{{1, nullptr}};
  (void)pool.map(first_id, messages);
}
