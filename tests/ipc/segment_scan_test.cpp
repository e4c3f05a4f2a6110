// scan_segments() over hostile entries: a ring whose header lies (size past the file, a
// broken fingerprint, an impossible creator pid), and payload names with fields too large
// for a signed 64-bit value. No CLI needed, so the sanitizer presets run these too.
#include "ringpool/ipc/segment_scan.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "ring_test_support.hpp"
#include "ringpool/ipc/segment.hpp"
#include "ringpool/ipc/spsc_ring.hpp"

namespace ringpool::ipc::test {
namespace {
using ::ringpool::test::in_dev_shm;

TEST(ShmScan, HostileHeadersAreNotListed) {
  const std::string name = "/ringpool-test-" + std::to_string(::getpid()) + "-hostile";
  {
    auto segment =
        std::make_shared<Segment>(Segment::create(name, SpscRing<std::uint64_t>::required_bytes(8),
                                                  SegmentOptions{.unlink_on_destroy = true}));
    auto ring = SpscRing<std::uint64_t>::create(segment, 8);
    ASSERT_EQ(scan_segments(name).size(), 1u);
    // Declared size beyond the file, then a broken fingerprint: not a ringpool segment.
    auto* header = reinterpret_cast<detail::RingHeader*>(segment->data());
    const std::uint64_t total = header->total_bytes;
    header->total_bytes = segment->size() + 1;
    EXPECT_TRUE(scan_segments(name).empty());
    header->total_bytes = total;
    header->fingerprint ^= 1;
    EXPECT_TRUE(scan_segments(name).empty());
    header->fingerprint ^= 1;
    header->creator_pid = -5;  // an impossible pid: listed, creator unknown, never stale
    const auto entries = scan_segments(name);
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].creator, CreatorState::unknown);
    EXPECT_FALSE(entries[0].stale());
  }
  EXPECT_FALSE(in_dev_shm(name));
}

// Payload segments are recognised by name alone (their bytes are the user's): every field
// may hold 19 digits, more than a signed 64-bit value holds, and is read without overflow
// (UBSan checks it); a 20-digit field or an owner past any pid is not a payload name.
TEST(ShmScan, PayloadNamesWithHugeFieldsAreReadWithoutOverflow) {
  char dir_template[] = "/tmp/ringpool-scan-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string nines(19, '9');
  const auto put = [&](const std::string& name) {
    FILE* f = std::fopen((dir + "/" + name).c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("not a ring", f);
    std::fclose(f);
  };
  put("ringpool-blob-4242-" + nines + "-" + nines + "-" + nines);
  put("ringpool-blob-4243-1-1-" + nines + "9");  // a 20-digit field
  put("ringpool-blob-" + nines + "-1-1-1");      // an owner past any pid
  const auto entries = scan_segments("/ringpool-blob-", dir);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].ring_kind, "payload");
  EXPECT_EQ(entries[0].creator_pid, 4242);
  for (const auto& name :
       {"ringpool-blob-4242-" + nines + "-" + nines + "-" + nines,
        "ringpool-blob-4243-1-1-" + nines + "9", "ringpool-blob-" + nines + "-1-1-1"}) {
    EXPECT_EQ(std::remove((dir + "/" + name).c_str()), 0);
  }
  EXPECT_EQ(::rmdir(dir.c_str()), 0);
}

}  // namespace
}  // namespace ringpool::ipc::test
