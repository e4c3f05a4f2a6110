// A class with private state and no Codec as a Queue item: Boost.PFR cannot see its
// members, so it must specialise ringpool::pool::Codec.
#include <string>
#include <utility>

#include "ringpool/pool/queue.hpp"

class Account {
 public:
  explicit Account(std::string owner) : owner_(std::move(owner)) {}
  [[nodiscard]] const std::string& owner() const { return owner_; }

 private:
  std::string owner_;
};

int main() {
  ringpool::pool::Queue<Account> q(4);
  q.put(Account("ada"));
}
