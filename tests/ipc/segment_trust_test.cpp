// Segment::open refuses what another user could have written: a segment owned by another
// uid, one with group/other permission bits, a symlink or a FIFO planted at the name.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ring_test_support.hpp"
#include "ringpool/ipc/errors.hpp"
#include "ringpool/ipc/segment.hpp"

namespace ringpool::ipc::test {
namespace {

std::string shm_path(const std::string& name) {
  return "/dev/shm" + name;
}

class SegmentTrust : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "/ringpool-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override { ::unlink(shm_path(name_).c_str()); }
  std::string name_;
};

// The IpcError thrown by f (ADD_FAILURE and a dummy when none is).
template <class F>
IpcError error_of(F&& f) {
  try {
    f();
  } catch (const IpcError& e) {
    return e;
  }
  ADD_FAILURE() << "no IpcError thrown";
  return IpcError(IpcErrc::system_error, "none");
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_F(SegmentTrust, GroupOrOtherModeIsRefusedUnlessAllowed) {
  Segment created = Segment::create(name_, 4096, SegmentOptions{.mode = 0666});
  const IpcError e = error_of([&] { (void)Segment::open(name_); });
  EXPECT_EQ(e.code(), IpcErrc::untrusted_segment);
  EXPECT_EQ(e.name(), name_);
  EXPECT_TRUE(contains(e.what(), "mode 0666")) << e.what();
  EXPECT_TRUE(contains(e.what(), "group/other")) << e.what();
  EXPECT_TRUE(contains(e.what(), "uid " + std::to_string(::geteuid()))) << e.what();

  ASSERT_EQ(::fchmod(created.fd(), 0640), 0);
  EXPECT_EQ(error_of([&] { (void)Segment::open(name_); }).code(), IpcErrc::untrusted_segment);

  Segment trusted = Segment::open(name_, SegmentOptions{.allow_untrusted = true});
  EXPECT_EQ(trusted.size(), 4096u);
  ASSERT_EQ(::fchmod(created.fd(), 0600), 0);
  EXPECT_EQ(Segment::open(name_).size(), 4096u);
}

TEST_F(SegmentTrust, AnotherOwnerIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "fchown to another uid needs root";
  Segment created = Segment::create(name_, 4096);
  std::memcpy(created.data(), "forged", 6);
  ASSERT_EQ(::fchown(created.fd(), 65534, 65534), 0) << std::strerror(errno);
  const IpcError e = error_of([&] { (void)Segment::open(name_); });
  EXPECT_EQ(e.code(), IpcErrc::untrusted_segment);
  EXPECT_TRUE(contains(e.what(), "owned by uid 65534")) << e.what();
  EXPECT_TRUE(contains(e.what(), "mode 0600")) << e.what();
  EXPECT_TRUE(contains(e.what(), "effective uid 0")) << e.what();
  Segment trusted = Segment::open(name_, SegmentOptions{.allow_untrusted = true});
  EXPECT_EQ(std::memcmp(trusted.data(), "forged", 6), 0);
}

TEST_F(SegmentTrust, SymlinkAtTheNameIsRefused) {
  const std::string target = name_ + "-target";
  Segment real = Segment::create(target, 4096, SegmentOptions{.unlink_on_destroy = true});
  ASSERT_EQ(::symlink(shm_path(target).c_str(), shm_path(name_).c_str()), 0)
      << std::strerror(errno);
  const IpcError e = error_of([&] { (void)Segment::open(name_); });
  EXPECT_EQ(e.code(), IpcErrc::untrusted_segment);
  EXPECT_EQ(e.sys_errno(), ELOOP);
  EXPECT_TRUE(contains(e.what(), "symbolic link")) << e.what();
  // allow_untrusted relaxes owner and mode, never the symlink rule.
  EXPECT_EQ(
      error_of([&] { (void)Segment::open(name_, SegmentOptions{.allow_untrusted = true}); }).code(),
      IpcErrc::untrusted_segment);
}

TEST_F(SegmentTrust, FifoAtTheNameIsRefused) {
  ASSERT_EQ(::mkfifo(shm_path(name_).c_str(), 0600), 0) << std::strerror(errno);
  const IpcError e = error_of([&] { (void)Segment::open(name_); });
  EXPECT_EQ(e.code(), IpcErrc::untrusted_segment);
  EXPECT_TRUE(contains(e.what(), "not a regular file but a FIFO")) << e.what();
}

// A throwaway user made with useradd; removed (with userdel) on destruction.
class ThrowawayUser {
 public:
  static constexpr const char* kUseradd = "/usr/sbin/useradd";
  static constexpr const char* kUserdel = "/usr/sbin/userdel";

  ThrowawayUser() : name_("rp-test-" + std::to_string(::getpid())) {
    const std::string command = std::string(kUseradd) + " --system --no-create-home --shell " +
                                "/usr/sbin/nologin " + name_ + " >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) return;
    created_ = true;
    if (const passwd* pw = ::getpwnam(name_.c_str())) {
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
    }
  }
  ~ThrowawayUser() {
    if (created_) {
      const std::string command = std::string(kUserdel) + " " + name_ + " >/dev/null 2>&1";
      static_cast<void>(std::system(command.c_str()));
    }
  }
  ThrowawayUser(const ThrowawayUser&) = delete;
  ThrowawayUser& operator=(const ThrowawayUser&) = delete;

  [[nodiscard]] bool ok() const { return created_ && uid_ != 0; }
  [[nodiscard]] uid_t uid() const { return uid_; }
  [[nodiscard]] gid_t gid() const { return gid_; }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool created_ = false;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
};

TEST_F(SegmentTrust, ASegmentMadeByAnotherUserIsRefusedByRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "creating a user and switching to it needs root";
  if (::access(ThrowawayUser::kUseradd, X_OK) != 0 ||
      ::access(ThrowawayUser::kUserdel, X_OK) != 0) {
    GTEST_SKIP() << "useradd/userdel are not installed";
  }
  ThrowawayUser user;
  ASSERT_TRUE(user.ok()) << "useradd " << user.name() << " failed";
  // The other user creates the segment (mode 0600, its own) and writes an item into it.
  const pid_t pid = fork_child([&] {
    if (::setgid(user.gid()) != 0 || ::setuid(user.uid()) != 0) return 2;
    Segment s = Segment::create(name_, 4096);
    std::memcpy(s.data(), "attacker's item", 15);
    return 0;
  });
  ASSERT_GT(pid, 0);
  ASSERT_EQ(wait_child(pid), 0);
  struct stat st {};
  ASSERT_EQ(::lstat(shm_path(name_).c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, user.uid());

  const IpcError e = error_of([&] { (void)Segment::open(name_); });
  EXPECT_EQ(e.code(), IpcErrc::untrusted_segment);
  EXPECT_TRUE(contains(e.what(), "uid " + std::to_string(user.uid()) + " (" + user.name() + ")"))
      << e.what();
  EXPECT_TRUE(contains(e.what(), "mode 0600")) << e.what();
}

}  // namespace
}  // namespace ringpool::ipc::test
