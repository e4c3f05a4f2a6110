#include "ringpool/bench/rounds.hpp"

namespace ringpool::bench {

std::vector<std::size_t> round_order(std::size_t contenders, std::size_t round, bool rotate) {
  std::vector<std::size_t> order(contenders);
  const std::size_t first = (rotate && contenders > 0) ? round % contenders : 0;
  for (std::size_t k = 0; k < contenders; ++k) order[k] = (first + k) % contenders;
  return order;
}

}  // namespace ringpool::bench
