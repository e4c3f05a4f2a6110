// Imap::next() and next(timeout) (Python's IMapIterator.next): a timeout throws Timeout
// and loses nothing; a failed item throws at its place and iteration goes on.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringpool/pool/pool.hpp"
#include "ringpool/pool/sync.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Event;
using ringpool::pool::Pool;
using ringpool::pool::Timeout;

Event* g_imap_gate = nullptr;  // set before the pool forks

int gated_first(int x) {
  if (x == 0) (void)g_imap_gate->wait(20s);
  if (x == 2) throw std::invalid_argument("two");
  return x * 10;
}

TEST(ImapNext, TimeoutThrowsAndTheIteratorStaysUsable) {
  Event gate;
  g_imap_gate = &gate;
  Pool pool(2);
  auto it = pool.imap(gated_first, std::vector<int>{0, 1, 2, 3});
  EXPECT_THROW((void)it.next(20ms), Timeout);  // item 0 waits for the gate
  EXPECT_THROW((void)it.next(1ms), Timeout);
  gate.set();
  EXPECT_EQ(it.next(20s), std::optional<int>(0));
  EXPECT_EQ(it.next(20s), std::optional<int>(10));
  EXPECT_THROW((void)it.next(20s), std::invalid_argument);  // item 2, consumed
  EXPECT_EQ(it.next(), std::optional<int>(30));
  EXPECT_EQ(it.next(20s), std::nullopt);
  EXPECT_EQ(it.next(), std::nullopt);
}

TEST(ImapNext, UnorderedWithTimeout) {
  Event gate;
  g_imap_gate = &gate;
  Pool pool(2);
  auto it = pool.imap_unordered(gated_first, std::vector<int>{0, 1});
  EXPECT_EQ(it.next(20s), std::optional<int>(10));  // 0 is held by the gate
  EXPECT_THROW((void)it.next(20ms), Timeout);
  gate.set();
  EXPECT_EQ(it.next(20s), std::optional<int>(0));
  EXPECT_EQ(it.next(20s), std::nullopt);
}

}  // namespace
