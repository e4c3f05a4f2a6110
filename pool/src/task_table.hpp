#pragma once
// TaskTable: the parent's record of every task message in flight (internal to
// ringpool::pool): where its results go, how many of its items have settled, how often it
// was rerun and which worker ring it went to.
//
// A record's id is its index plus a generation, so a late, repeated or forged result for a
// record that was settled and reused is ignored (lookup() returns nullptr). Each record
// index below the task-word array has a task word in shared memory (see TaskWord in
// shared_layout.hpp): the parent's side of the cancel agreement with the workers is here.
// Not thread-safe: the pool core's mutex guards every call except empty().
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <utility>
#include <vector>

#include "ringpool/pool/detail/payload.hpp"
#include "ringpool/pool/future.hpp"
#include "shared_layout.hpp"

namespace ringpool::pool::detail {

class TaskTable {
 public:
  struct Record {
    std::uint32_t generation = 1;
    bool live = false;
    ResultSink* sink = nullptr;
    StateBase* owned = nullptr;  // a future's reference, released once settled
    std::uint64_t base = 0;      // sink index of the first item
    std::uint32_t count = 0;
    std::uint32_t next = 0;  // items settled so far (results arrive in order)
    std::uint32_t attempts = 0;
    int worker = -1;  // the worker whose SPSC ring it went to; -1 for the shared ring
    std::uint64_t kept_payload = 0;  // the pool's one-off argument segment, removed at retire
  };

  TaskTable(std::size_t workers, std::size_t reserve, std::span<TaskWord> words);

  // Reserves a record for a message about to be written; its id goes in the header.
  // Inline (with id_of, unreserve and start): the submit path.
  [[nodiscard]] std::uint32_t reserve() {
    if (!free_.empty()) {
      const std::uint32_t i = free_.back();
      free_.pop_back();
      return i;
    }
    return grow();
  }
  [[nodiscard]] std::uint64_t id_of(std::uint32_t index) const noexcept {
    return (static_cast<std::uint64_t>(records_[index].generation) << 32) | (index + 1);
  }
  // The pool's payload names: a record's kept argument segment is removed under them.
  void set_payloads(const PayloadNames* names) noexcept { payloads_ = names; }
  // Record `index` (just started) owns the pool's one-off segment `sequence` until it is
  // retired (a rerun after its worker died reads it again). Needs set_payloads().
  void keep_payload(std::uint32_t index, std::uint64_t sequence) noexcept {
    records_[index].kept_payload = sequence;
  }
  // The message was not sent after all: the record goes back unused.
  void unreserve(std::uint32_t index) noexcept { free_.push_back(index); }
  // The message is in a ring: from now on its results are expected.
  void start(std::uint32_t index, ResultSink* sink, StateBase* owned, std::uint64_t base,
             std::uint32_t count, int worker) noexcept {
    Record& r = records_[index];
    r.live = true;
    r.sink = sink;
    r.owned = owned;
    r.base = base;
    r.count = count;
    r.next = 0;
    r.attempts = 0;
    r.worker = worker;
    if (owned != nullptr) owned->set_task_id(id_of(index));
    if (worker >= 0) ++queued_[static_cast<std::size_t>(worker)];
    // relaxed: waiters read it with acquire only after retire(); the record is under the
    // lock.
    live_.fetch_add(1, std::memory_order_relaxed);
  }

  // A recovered message of `r` now goes to worker `route`'s ring (-1: the shared ring). Its
  // task word is pending again (the dead worker may have moved it to running).
  void reroute(Record& r, int route) noexcept;

  // Cancels `r` if no worker has started it: wins its task word (pending -> cancelled),
  // settles its items with ResultSink::cancel_item() and retires it. False when a worker
  // won the word, when `r` was rerun after its worker died (it started once), or when it
  // has no task word.
  bool try_cancel(Record& r) noexcept;
  // Cancels the whole batch whose sink completes `future` (ResultSink::batch()) if no
  // worker has started any of its records: holds every record's task word (pending ->
  // held), then cancels them all as try_cancel() does, or, when a worker won one of the
  // words, puts the held ones back to pending and cancels nothing. False also when one of
  // the records settled or was rerun already, has no task word, or no live record belongs
  // to `future`. The batch's sink may be gone when this returns true.
  bool try_cancel_batch(const StateBase& future) noexcept;
  // Cancels every live record no worker has started; returns how many.
  std::size_t cancel_all_pending() noexcept;
  // A worker has moved `r`'s task word to running.
  [[nodiscard]] bool running(const Record& r) const noexcept;

  // The live record with this id, or nullptr (settled already, or never issued).
  [[nodiscard]] Record* lookup(std::uint64_t id) noexcept;

  // Item `r.next` succeeded with encoded `value` / failed with `error`. The record retires
  // once every item has settled.
  // Inline: the collector's per-item path.
  void deliver_next(Record& r, std::span<const std::byte> value) noexcept {
    const std::uint64_t index = r.base + r.next;
    try {
      r.sink->deliver(index, value);
    } catch (...) {
      r.sink->fail(index, std::current_exception());  // the value did not decode
    }
    if (++r.next == r.count) retire(r, true);
  }
  // Items r.next .. r.next + n - 1 succeeded (n <= r.count - r.next): value k is the `size`
  // bytes at first + k * stride (ResultSink::deliver_run).
  void deliver_run(Record& r, const std::byte* first, std::size_t stride, std::size_t size,
                   std::uint32_t n) noexcept {
    r.sink->deliver_run(r.base + r.next, first, stride, size, n);
    r.next += n;
    if (r.next == r.count) retire(r, true);
  }
  // As deliver_next, for a value its worker streams: when the worker dies before writing
  // all of it (SenderGone) the item stays unsettled and false is returned; the recovery of
  // the dead worker's task settles it (WorkerLost, or a rerun), as for any task it held.
  bool deliver_next_streamed(Record& r, std::span<const std::byte> value) noexcept {
    const std::uint64_t index = r.base + r.next;
    try {
      r.sink->deliver(index, value);
    } catch (const SenderGone&) {
      return false;
    } catch (...) {
      r.sink->fail(index, std::current_exception());  // the value did not decode
    }
    if (++r.next == r.count) retire(r, true);
    return true;
  }
  void fail_next(Record& r, std::exception_ptr error) noexcept {
    r.sink->fail(r.base + r.next, std::move(error));
    if (++r.next == r.count) retire(r, true);
  }
  // Fails every item not yet settled, then retires the record.
  void fail_rest(Record& r, const std::exception_ptr& error) noexcept;
  // Fails every live record (terminate, a broken pool).
  void fail_all(const std::exception_ptr& error) noexcept;

  // Live messages routed to worker i's own ring.
  [[nodiscard]] std::size_t queued(std::size_t worker) const noexcept { return queued_[worker]; }
  // No record is live. Callable without the pool's lock.
  [[nodiscard]] bool empty() const noexcept {
    // acquire: pairs with the release decrement in retire(); what the settled records
    // delivered is visible.
    return live_.load(std::memory_order_acquire) == 0;
  }
  [[nodiscard]] std::size_t live_approx() const noexcept {
    // relaxed: a hint (the supervisor's poll period).
    return live_.load(std::memory_order_relaxed);
  }

 private:
  // A new record at the end (the free list is empty).
  std::uint32_t grow();
  // `decided`: the word already records this use's outcome (a worker claimed the task, its
  // results came; or the parent cancelled it), so it is left as it is: no store into a
  // line the workers write, per task. Otherwise it is set to cancelled.
  void retire(Record& r, bool decided) noexcept;

  [[nodiscard]] std::atomic<std::uint64_t>* word_of(const Record& r) const noexcept;

  std::vector<Record> records_;
  std::span<TaskWord> words_;
  std::vector<std::uint32_t> free_;
  std::vector<std::size_t> queued_;
  std::atomic<std::size_t> live_{0};
  const PayloadNames* payloads_ = nullptr;
};

}  // namespace ringpool::pool::detail
