// `ringpool shm list` and `ringpool shm clean` over real segments in /dev/shm: a stale
// ring (its creator exited), a stale queue-like segment (ring at +1024), a live ring, a
// segment that is not a ringpool ring, and (as root) a stale ring of another user. Every
// command is limited with --prefix to this test's names, so other programs' segments are
// never touched.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ring_test_support.hpp"
#include "ringpool/ipc/byte_ring.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/segment_scan.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace ringpool::ipc::test {
namespace {
using ::ringpool::test::in_dev_shm;

using nlohmann::json;

struct Output {
  int exit_code = -1;
  std::string text;
};

Output ringpool(const std::string& args) {
  Output result;
  const std::string command = std::string("'") + RINGPOOL_CLI + "' " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer{};
  std::size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
    result.text.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// A child creates a ring segment under `name` and exits without unlinking it.
pid_t leave_stale_ring(const std::string& name) {
  const pid_t pid = fork_child([&] {
    auto segment = std::make_shared<Segment>(
        Segment::create(name, SpscRing<std::uint64_t>::required_bytes(8)));
    auto ring = SpscRing<std::uint64_t>::create(segment, 8);
    return ring.producer.try_push(42) ? 0 : 2;
  });
  EXPECT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 0);
  return pid;
}

class ShmCli : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* what : {"stale", "queue", "live", "plain", "foreign"}) {
      ::unlink(("/dev/shm" + name(what)).c_str());
    }
  }
  [[nodiscard]] std::string name(const std::string& what) const { return prefix_ + what; }
  std::string prefix_ = "/ringpool-test-" + std::to_string(::getpid()) + "-shm-";
};

TEST_F(ShmCli, ListShowsStaleSegmentsAndCleanRemovesThemAndNothingElse) {
  const pid_t stale_creator = leave_stale_ring(name("stale"));
  // A queue-like segment: an 8-byte outer magic, its ring at +1024.
  const pid_t queue_pid = fork_child([&] {
    Segment s = Segment::create(name("queue"), 1024 + MpmcByteRing::required_bytes(4, 64));
    std::memcpy(s.data(), "RPQUEUE1", 8);
    auto ring = MpmcByteRing::create(s.bytes().subspan(1024), 4, 64);
    return ring.producer.capacity() == 4 ? 0 : 2;
  });
  ASSERT_GT(queue_pid, 0);
  ASSERT_EQ(wait_child(queue_pid), 0);
  // Not a ringpool ring: zero bytes from a creator that is gone too.
  const pid_t plain_pid = fork_child([&] {
    Segment s = Segment::create(name("plain"), 4096);
    return 0;
  });
  ASSERT_GT(plain_pid, 0);
  ASSERT_EQ(wait_child(plain_pid), 0);
  // Live: created by this process.
  auto live_segment = std::make_shared<Segment>(
      Segment::create(name("live"), SpscRing<std::uint64_t>::required_bytes(8)));
  auto live = SpscRing<std::uint64_t>::create(live_segment, 8);
  // Stale but another user's (root only: chown).
  const bool root = ::geteuid() == 0;
  if (root) {
    leave_stale_ring(name("foreign"));
    ASSERT_EQ(::chown(("/dev/shm" + name("foreign")).c_str(), 65534, 65534), 0);
  }

  const Output listed = ringpool("shm list --json --prefix " + prefix_);
  ASSERT_EQ(listed.exit_code, 0) << listed.text;
  std::map<std::string, json> by_name;
  for (const json& e : json::parse(listed.text)) by_name[e["name"].get<std::string>()] = e;
  ASSERT_EQ(by_name.size(), root ? 4u : 3u) << listed.text;
  const json& stale = by_name[name("stale")];
  EXPECT_EQ(stale["stale"], true);
  EXPECT_EQ(stale["creator_alive"], false);
  EXPECT_EQ(stale["creator_pid"], stale_creator);
  EXPECT_EQ(stale["ring_kind"], "SpscRing");
  EXPECT_EQ(stale["owner_uid"], ::geteuid());
  EXPECT_EQ(stale["mode"], "0600");
  EXPECT_EQ(stale["bytes"], SpscRing<std::uint64_t>::required_bytes(8));
  const json& queue = by_name[name("queue")];
  EXPECT_EQ(queue["stale"], true);
  EXPECT_EQ(queue["ring_kind"], "MpmcByteRing");
  EXPECT_EQ(queue["ring_offset"], 1024);
  EXPECT_EQ(queue["outer_magic"], "RPQUEUE1");
  EXPECT_EQ(queue["creator_pid"], queue_pid);
  const json& alive = by_name[name("live")];
  EXPECT_EQ(alive["stale"], false);
  EXPECT_EQ(alive["creator_alive"], true);
  EXPECT_EQ(alive["creator_pid"], ::getpid());
  EXPECT_EQ(by_name.count(name("plain")), 0u) << "a segment without a ring header was listed";
  if (root) {
    EXPECT_EQ(by_name[name("foreign")]["stale"], true);
    EXPECT_EQ(by_name[name("foreign")]["owner_uid"], 65534);
  }

  const Output text = ringpool("shm list --prefix " + prefix_);
  EXPECT_EQ(text.exit_code, 0) << text.text;
  EXPECT_NE(text.text.find(name("stale")), std::string::npos) << text.text;
  EXPECT_NE(text.text.find("stale (creator gone)"), std::string::npos) << text.text;

  const Output dry = ringpool("shm clean --dry-run --prefix " + prefix_);
  EXPECT_EQ(dry.exit_code, 0) << dry.text;
  EXPECT_NE(dry.text.find("would remove " + name("stale")), std::string::npos) << dry.text;
  EXPECT_TRUE(in_dev_shm(name("stale")));
  EXPECT_TRUE(in_dev_shm(name("queue")));

  const Output cleaned = ringpool("shm clean --prefix " + prefix_);
  EXPECT_EQ(cleaned.exit_code, 0) << cleaned.text;
  EXPECT_NE(cleaned.text.find("removed " + name("stale")), std::string::npos) << cleaned.text;
  EXPECT_FALSE(in_dev_shm(name("stale")));
  EXPECT_FALSE(in_dev_shm(name("queue")));
  EXPECT_TRUE(in_dev_shm(name("live")));
  EXPECT_TRUE(in_dev_shm(name("plain")));
  if (root) {
    EXPECT_TRUE(in_dev_shm(name("foreign")));
    EXPECT_NE(cleaned.text.find("kept " + name("foreign")), std::string::npos) << cleaned.text;
  }
  EXPECT_EQ(live.consumer.size_approx(), 0u);
}

TEST_F(ShmCli, RemoveIfStaleRechecksBeforeItUnlinks) {
  leave_stale_ring(name("stale"));
  const auto entries = scan_segments(name("stale"));
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_TRUE(entries[0].stale());
  // The name now holds another object: the entry no longer describes it.
  ASSERT_TRUE(Segment::unlink(name("stale")));
  leave_stale_ring(name("stale"));
  EXPECT_EQ(remove_if_stale(entries[0]), RemoveOutcome::changed);
  EXPECT_TRUE(in_dev_shm(name("stale")));
  ASSERT_TRUE(Segment::unlink(name("stale")));
  EXPECT_EQ(remove_if_stale(entries[0]), RemoveOutcome::gone);
}

}  // namespace
}  // namespace ringpool::ipc::test
