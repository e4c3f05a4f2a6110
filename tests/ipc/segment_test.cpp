// Segment: named create/open/unlink, O_EXCL, mode, names, anonymous mappings, grants.
#include "ringpool/ipc/segment.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "ring_test_support.hpp"
#include "ringpool/ipc/errors.hpp"

namespace ringpool::ipc::test {
namespace {

// A name unique to this process and test; removed at the end of the test.
class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/ringpool-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override { (void)Segment::unlink(name_); }
  std::string name_;
};

TEST_F(SegmentTest, CreateOpenShareTheSameBytes) {
  Segment created = Segment::create(name_, 4096);
  EXPECT_EQ(created.size(), 4096u);
  EXPECT_EQ(created.name(), name_);
  std::memcpy(created.data(), "hello", 5);
  Segment opened = Segment::open(name_);
  EXPECT_EQ(opened.size(), 4096u);
  EXPECT_EQ(std::memcmp(opened.data(), "hello", 5), 0);
}

TEST_F(SegmentTest, CreateTwiceIsAlreadyExists) {
  Segment first = Segment::create(name_, 64);
  try {
    (void)Segment::create(name_, 64);
    FAIL() << "second create succeeded";
  } catch (const IpcError& e) {
    EXPECT_EQ(e.code(), IpcErrc::already_exists);
    EXPECT_EQ(e.name(), name_);
    EXPECT_EQ(e.sys_errno(), EEXIST);
  }
}

TEST_F(SegmentTest, DefaultModeIs0600) {
  Segment s = Segment::create(name_, 64);
  struct stat st {};
  ASSERT_EQ(::fstat(s.fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SegmentTest, RequestedModeIsAppliedExactly) {
  Segment s = Segment::create(name_, 64, SegmentOptions{.mode = 0640});
  struct stat st {};
  ASSERT_EQ(::fstat(s.fd(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(SegmentTest, OpenMissingIsNotFound) {
  EXPECT_EQ(error_code_of([&] { (void)Segment::open(name_); }), IpcErrc::not_found);
}

TEST_F(SegmentTest, NameIsKeptUnlessTheCreatorAsksToUnlink) {
  { Segment s = Segment::create(name_, 64); }
  { Segment again = Segment::open(name_); }  // still there
  { Segment s = Segment::open(name_); }
  EXPECT_TRUE(Segment::unlink(name_));
  EXPECT_FALSE(Segment::unlink(name_));
  { Segment s = Segment::create(name_, 64, SegmentOptions{.unlink_on_destroy = true}); }
  EXPECT_EQ(error_code_of([&] { (void)Segment::open(name_); }), IpcErrc::not_found);
  {
    Segment s = Segment::create(name_, 64);
    s.unlink_on_destroy(true);
  }
  EXPECT_FALSE(Segment::unlink(name_));
}

TEST_F(SegmentTest, NameWithoutLeadingSlashIsNormalised) {
  Segment s = Segment::create(name_.substr(1), 64);
  EXPECT_EQ(s.name(), name_);
}

TEST(SegmentNames, EmptyNameIsRefused) {
  EXPECT_EQ(error_code_of([] { (void)Segment::create("", 64); }), IpcErrc::invalid_name);
  EXPECT_EQ(error_code_of([] { (void)Segment::open("/"); }), IpcErrc::invalid_name);
}

TEST(SegmentNames, TooLongNameIsRefused) {
  const std::string long_name = "/" + std::string(Segment::kMaxNameLength, 'x');
  EXPECT_EQ(error_code_of([&] { (void)Segment::create(long_name, 64); }), IpcErrc::invalid_name);
}

TEST(SegmentNames, SlashPastTheFirstCharacterIsRefused) {
  EXPECT_EQ(error_code_of([] { (void)Segment::create("/a/b", 64); }), IpcErrc::invalid_name);
  EXPECT_EQ(error_code_of([] { (void)Segment::unlink("a/b"); }), IpcErrc::invalid_name);
}

TEST(SegmentSizes, ZeroBytesIsRefused) {
  EXPECT_EQ(error_code_of([] { (void)Segment::anonymous(0); }), IpcErrc::invalid_argument);
  EXPECT_EQ(error_code_of([] { (void)Segment::create("/ringpool-test-zero", 0); }),
            IpcErrc::invalid_argument);
}

TEST(SegmentAnonymous, IsSharedWithAForkedChild) {
  Segment s = Segment::anonymous(4096);
  EXPECT_TRUE(s.is_anonymous());
  auto* word = reinterpret_cast<volatile std::uint32_t*>(s.data());
  *word = 1;
  const pid_t pid = fork_child([&] {
    if (*word != 1) return 2;
    *word = 42;
    return 0;
  });
  ASSERT_GT(pid, 0);
  EXPECT_EQ(wait_child(pid), 0);
  EXPECT_EQ(*word, 42u);
}

TEST(SegmentAnonymous, OptionalFeaturesAreReportedNeverFatal) {
  Segment s = Segment::anonymous(
      1 << 20, SegmentOptions{.prefault = true, .lock = true, .huge_pages = true});
  const SegmentGrants& g = s.grants();
  EXPECT_FALSE(g.prefault_note.empty());
  EXPECT_FALSE(g.lock_note.empty());
  EXPECT_FALSE(g.huge_pages_note.empty());
  if (!g.locked) {
    EXPECT_NE(g.lock_note.find("refused"), std::string::npos);
  }
  Segment plain = Segment::anonymous(64);
  EXPECT_FALSE(plain.grants().locked);
  EXPECT_EQ(plain.grants().lock_note, "not requested");
}

TEST(SegmentMove, MovedFromSegmentIsEmpty) {
  Segment a = Segment::anonymous(64);
  std::byte* data = a.data();
  Segment b = std::move(a);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): checking the contract
  EXPECT_EQ(a.size(), 0u);       // NOLINT(bugprone-use-after-move)
}

TEST(IpcErrors, EveryCodeHasAName) {
  EXPECT_EQ(to_string(IpcErrc::already_exists), "already_exists");
  EXPECT_EQ(to_string(IpcErrc::corrupt_indices), "corrupt_indices");
  IpcError e(IpcErrc::not_found, "no such segment; create it first", "/x", 2);
  EXPECT_EQ(e.code(), IpcErrc::not_found);
  EXPECT_EQ(e.sys_errno(), 2);
  EXPECT_EQ(e.name(), "/x");
  EXPECT_NE(std::string(e.what()).find("create it first"), std::string::npos);
}

}  // namespace
}  // namespace ringpool::ipc::test
