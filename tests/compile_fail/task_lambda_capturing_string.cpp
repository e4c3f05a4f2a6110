// A lambda capturing a std::string is not trivially copyable and has no Codec: refused, with
// the advice to pass the string as an argument or write a struct functor.
#include <string>

#include "ringpool/pool/pool.hpp"

int main() {
  ringpool::pool::Pool pool(1);
  const std::string prefix = "id-";
  (void)pool.submit([prefix](int x) { return prefix + std::to_string(x); }, 1);
}
