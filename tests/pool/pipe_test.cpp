// Pipe<T> / Connection<T>: round trips across a fork in both directions, one-way pipes,
// close and drain, poll, timeouts, payload limits, what travels, and a peer process that
// dies. Suite PipeThreads runs two threads over one mapping (no fork) and is registered
// apart with the tsan label.
#include "ringpool/pool/pipe.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ringpool/pool/process.hpp"

namespace {

using namespace std::chrono_literals;
using ringpool::pool::Closed;
using ringpool::pool::Connection;
using ringpool::pool::InvalidArgument;
using ringpool::pool::InvalidState;
using ringpool::pool::PayloadTooLarge;
using ringpool::pool::Pipe;
using ringpool::pool::PipeOptions;
using ringpool::pool::Process;
using ringpool::pool::Timeout;

TEST(Pipe, RoundTripBothDirectionsAcrossAFork) {
  auto [a, b] = Pipe<int>();
  // More messages than the default capacity in each direction: send blocks and resumes.
  constexpr int kMessages = 1000;
  Process echo([b]() mutable {
    for (int i = 0; i < kMessages; ++i) b.send(b.recv() * 2);
  });
  echo.start();
  for (int i = 0; i < kMessages; ++i) {
    a.send(i);
    ASSERT_EQ(a.recv(10s), 2 * i);
  }
  echo.join();
  EXPECT_EQ(echo.exitcode(), 0);
}

TEST(Pipe, ManyMessagesInFlightKeepTheirOrder) {
  auto [a, b] = Pipe<int>(true, PipeOptions{.capacity = 4});
  constexpr int kMessages = 5000;
  Process producer([b]() mutable {
    for (int i = 0; i < kMessages; ++i) b.send(i);
  });
  producer.start();
  for (int i = 0; i < kMessages; ++i) ASSERT_EQ(a.recv(10s), i);
  producer.join();
  EXPECT_EQ(producer.exitcode(), 0);
}

TEST(Pipe, StringsVectorsAndPairsTravel) {
  using Message = std::pair<std::string, std::vector<double>>;
  auto [a, b] = Pipe<Message>();
  Process child([b]() mutable {
    Message m = b.recv();
    m.first += " back";
    m.second.push_back(3.5);
    b.send(m);
  });
  child.start();
  a.send({"there and", {1.0, 2.0}});
  const Message reply = a.recv(10s);
  EXPECT_EQ(reply.first, "there and back");
  EXPECT_EQ(reply.second, (std::vector<double>{1.0, 2.0, 3.5}));
  child.join();
  EXPECT_EQ(child.exitcode(), 0);

  auto [x, y] = Pipe<std::vector<std::string>>();
  y.send({"a", "", std::string(500, 'z')});
  EXPECT_EQ(x.recv(), (std::vector<std::string>{"a", "", std::string(500, 'z')}));
}

TEST(Pipe, OneWayPipeRefusesTheWrongDirection) {
  auto [r, w] = Pipe<int>(false);
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_FALSE(w.readable());
  EXPECT_TRUE(w.writable());
  EXPECT_THROW(r.send(1), InvalidState);
  EXPECT_THROW(static_cast<void>(w.recv()), InvalidState);
  EXPECT_THROW(static_cast<void>(w.recv(1ms)), InvalidState);
  EXPECT_THROW(static_cast<void>(w.try_recv()), InvalidState);
  EXPECT_THROW(static_cast<void>(w.poll()), InvalidState);
  try {
    r.send(1);
    FAIL() << "send on the receive-only end";
  } catch (const InvalidState& e) {
    EXPECT_NE(std::string(e.what()).find("only receives"), std::string::npos) << e.what();
  }

  Process writer([w]() mutable {
    w.send(7);
    w.send(8);
  });
  writer.start();
  EXPECT_EQ(r.recv(10s), 7);
  EXPECT_EQ(r.recv(10s), 8);
  writer.join();
  EXPECT_EQ(writer.exitcode(), 0);
}

TEST(Pipe, RecvDrainsThenThrowsClosedAfterClose) {
  auto [a, b] = Pipe<std::string>();
  a.send("one");
  a.send("two");
  a.close();
  EXPECT_TRUE(a.is_closed());
  EXPECT_TRUE(b.is_closed());
  EXPECT_THROW(a.send("three"), Closed);
  EXPECT_THROW(b.send("back"), Closed);
  EXPECT_TRUE(b.poll());  // buffered
  EXPECT_EQ(b.recv(), "one");
  EXPECT_EQ(b.try_recv(), std::optional<std::string>("two"));
  EXPECT_TRUE(b.poll());  // recv would not block: it throws Closed
  EXPECT_THROW(static_cast<void>(b.recv()), Closed);
  EXPECT_THROW(static_cast<void>(b.recv(1s)), Closed);
  EXPECT_EQ(b.try_recv(), std::nullopt);
  EXPECT_THROW(static_cast<void>(a.recv()), Closed);
}

TEST(Pipe, CloseInAnotherProcessEndsABlockedRecv) {
  auto [a, b] = Pipe<int>();
  Process closer([b]() mutable {
    b.send(1);
    static_cast<void>(b.recv());  // the parent's go-ahead
    b.close();
  });
  closer.start();
  EXPECT_EQ(a.recv(10s), 1);
  a.send(0);
  EXPECT_THROW(static_cast<void>(a.recv(10s)), Closed);
  closer.join();
  EXPECT_EQ(closer.exitcode(), 0);
}

TEST(Pipe, PollAndRecvTimeouts) {
  auto [a, b] = Pipe<int>();
  EXPECT_FALSE(a.poll());
  EXPECT_FALSE(a.poll(20ms));
  EXPECT_THROW(static_cast<void>(a.recv(20ms)), Timeout);
  EXPECT_EQ(a.try_recv(), std::nullopt);
  // A timeout leaves the pipe usable.
  b.send(5);
  EXPECT_TRUE(a.poll());
  EXPECT_TRUE(a.poll(1ms));
  EXPECT_EQ(a.recv(1ms), 5);

  Process late([b]() mutable {
    std::this_thread::sleep_for(50ms);
    b.send(6);
  });
  late.start();
  EXPECT_TRUE(a.poll(10s));
  EXPECT_EQ(a.recv(), 6);
  late.join();
}

TEST(Pipe, SendTimesOutWhileFull) {
  auto [a, b] = Pipe<int>(true, PipeOptions{.capacity = 2});
  a.send(1);
  a.send(2);
  EXPECT_THROW(a.send(3, 20ms), Timeout);
  EXPECT_EQ(b.recv(), 1);
  a.send(3, 1s);
  EXPECT_EQ(b.recv(), 2);
  EXPECT_EQ(b.recv(), 3);
}

TEST(Pipe, OversizedMessageIsRefusedAndNothingIsSent) {
  auto [a, b] = Pipe<std::string>(true, PipeOptions{.slot_size = 16});
  EXPECT_EQ(a.slot_size(), 16U);
  try {
    a.send(std::string(100, 'x'));
    FAIL() << "expected PayloadTooLarge";
  } catch (const PayloadTooLarge& e) {
    EXPECT_EQ(e.limit(), 16U);
    EXPECT_GT(e.size(), 16U);
  }
  EXPECT_FALSE(b.poll());
  a.send("fits");
  EXPECT_EQ(b.recv(), "fits");
  EXPECT_EQ(Pipe<std::string>().first.slot_size(), ringpool::pool::kDefaultQueueSlotSize);
  EXPECT_EQ(Pipe<double>().first.slot_size(), sizeof(double));
}

TEST(Pipe, BadOptionsAreATypedError) {
  EXPECT_THROW(static_cast<void>(Pipe<int>(true, PipeOptions{.capacity = 0})), InvalidArgument);
  EXPECT_THROW(static_cast<void>(Pipe<double>(true, PipeOptions{.slot_size = 4})), InvalidArgument);
  EXPECT_THROW(static_cast<void>(Pipe<int>(true, PipeOptions{.capacity = std::size_t{1} << 62})),
               InvalidArgument);
}

// The child registers as b's user (its first recv), then is SIGKILLed while blocked.
// The parent does not reap it: it is a zombie while a.recv() runs, and still counts as gone.
TEST(Pipe, RecvThrowsClosedWhenThePeerProcessDies) {
  auto [a, b] = Pipe<int>();
  Process child([b]() mutable {
    b.send(1);
    for (;;) static_cast<void>(b.recv());  // blocks until killed
  });
  child.set_daemon(true);  // ended at exit even if an assertion fails first
  child.start();
  EXPECT_EQ(a.recv(10s), 1);
  child.kill();
  EXPECT_THROW(static_cast<void>(a.recv(10s)), Closed);
  EXPECT_TRUE(a.is_closed());
  EXPECT_TRUE(a.poll());
  EXPECT_THROW(a.send(2), Closed);
  child.join();
  EXPECT_EQ(child.exitcode(), -9);
}

TEST(Pipe, BufferedMessagesOfADeadPeerAreStillReceived) {
  auto [a, b] = Pipe<int>();
  auto [ready_r, ready_w] = Pipe<bool>(false);
  Process child([b, ready_w]() mutable {
    b.send(1);
    b.send(2);
    ready_w.send(true);                    // both are buffered
    for (;;) static_cast<void>(b.recv());  // blocks until killed
  });
  child.set_daemon(true);
  child.start();
  ASSERT_TRUE(ready_r.recv(10s));
  child.kill();
  child.join();  // reaped: kill(pid, 0) now fails with ESRCH
  EXPECT_EQ(a.recv(10s), 1);
  EXPECT_EQ(a.recv(10s), 2);
  EXPECT_THROW(static_cast<void>(a.recv(10s)), Closed);
}

TEST(Pipe, SendOnAFullPipeThrowsClosedWhenTheReaderDies) {
  auto [a, b] = Pipe<int>(true, PipeOptions{.capacity = 1});
  Process reader([b]() mutable {
    b.send(0);  // registers the child as b's user
    for (;;) static_cast<void>(b.recv());
  });
  reader.set_daemon(true);
  reader.start();
  EXPECT_EQ(a.recv(10s), 0);
  reader.kill();
  // The dying reader soon stops taking messages; then a send finds the direction full
  // (capacity 1), waits, and sees the death.
  EXPECT_THROW(
      {
        for (int i = 0; i < 1000000; ++i) a.send(i, 10s);
      },
      Closed);
  reader.join();
}

TEST(Pipe, PollReportsADeadPeerAsReadable) {
  auto [a, b] = Pipe<int>();
  Process child([b]() mutable {
    b.send(1);
    for (;;) static_cast<void>(b.recv());
  });
  child.set_daemon(true);  // ended at exit even if an assertion fails first
  child.start();
  EXPECT_EQ(a.recv(10s), 1);
  child.kill();
  EXPECT_TRUE(a.poll(10s));
  EXPECT_THROW(static_cast<void>(a.recv()), Closed);
  child.join();
}

// ---- two threads over one mapping: ThreadSanitizer checks the rings' ordering ----------

TEST(PipeThreads, PingPong) {
  auto [a, b] = Pipe<std::string>(true, PipeOptions{.capacity = 2});
  constexpr int kRounds = 2000;
  std::thread peer([&b = b] {
    for (int i = 0; i < kRounds; ++i) b.send(b.recv() + "!");
  });
  for (int i = 0; i < kRounds; ++i) {
    const std::string m = std::to_string(i);
    a.send(m);
    ASSERT_EQ(a.recv(10s), m + "!");
  }
  peer.join();
}

TEST(PipeThreads, CloseWakesABlockedRecvAndSend) {
  auto [a, b] = Pipe<int>(true, PipeOptions{.capacity = 1});
  std::optional<bool> recv_closed;
  std::thread receiver([&b = b, &recv_closed] {
    try {
      static_cast<void>(b.recv());
      recv_closed = false;
    } catch (const Closed&) {
      recv_closed = true;
    }
  });
  a.close();
  receiver.join();
  EXPECT_EQ(recv_closed, std::optional<bool>(true));

  auto [c, d] = Pipe<int>(true, PipeOptions{.capacity = 1});
  c.send(1);
  std::optional<bool> send_closed;
  std::thread sender([&c = c, &send_closed] {
    try {
      c.send(2);  // full: blocks until d closes
      send_closed = false;
    } catch (const Closed&) {
      send_closed = true;
    }
  });
  d.close();
  sender.join();
  EXPECT_EQ(send_closed, std::optional<bool>(true));
}

TEST(PipeThreads, OneWayStreamAndPoll) {
  auto [r, w] = Pipe<std::vector<int>>(false, PipeOptions{.capacity = 8});
  constexpr int kMessages = 3000;
  std::thread writer([&w = w] {
    for (int i = 0; i < kMessages; ++i)
      w.send(std::vector<int>(static_cast<std::size_t>(i % 7), i));
    w.close();
  });
  int received = 0;
  for (;;) {
    ASSERT_TRUE(r.poll(10s));
    try {
      const std::vector<int> v = r.recv();
      ASSERT_EQ(v, std::vector<int>(static_cast<std::size_t>(received % 7), received));
      ++received;
    } catch (const Closed&) {
      break;
    }
  }
  EXPECT_EQ(received, kMessages);
  writer.join();
}

}  // namespace
