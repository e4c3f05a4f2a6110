// TaskTable: records of the task messages in flight (see task_table.hpp).
#include "task_table.hpp"

#include <utility>

namespace ringpool::pool::detail {

TaskTable::TaskTable(std::size_t workers, std::size_t reserve_records, std::span<TaskWord> words)
    : words_(words), queued_(workers, 0) {
  // Generation 0 precedes every record's first generation (Record::generation starts at
  // 1): each word leaves its record's first message pending (leaves_pending() in
  // shared_layout.hpp). retire() does not re-arm a word for the next use of its record.
  // relaxed: no worker exists yet; the rings' release commits publish the words later.
  for (TaskWord& w : words_) w.word.store(0, std::memory_order_relaxed);
  records_.reserve(reserve_records);
  free_.reserve(reserve_records);
}

std::uint32_t TaskTable::grow() {
  records_.emplace_back();
  // Room for every record in the free list now, so that retiring never allocates.
  free_.reserve(records_.capacity());
  return static_cast<std::uint32_t>(records_.size() - 1);
}

void TaskTable::reroute(Record& r, int route) noexcept {
  if (r.worker >= 0) --queued_[static_cast<std::size_t>(r.worker)];
  r.worker = route;
  if (route >= 0) ++queued_[static_cast<std::size_t>(route)];
  if (std::atomic<std::uint64_t>* w = word_of(r)) {
    // relaxed: as in retire(); the dead worker is reaped, and the requeued message is
    // published again by a later commit.
    w->store(task_word(id_of(static_cast<std::uint32_t>(&r - records_.data())), kTaskPending),
             std::memory_order_relaxed);
  }
}

std::atomic<std::uint64_t>* TaskTable::word_of(const Record& r) const noexcept {
  const auto i = static_cast<std::size_t>(&r - records_.data());
  return i < words_.size() ? &words_[i].word : nullptr;
}

bool TaskTable::try_cancel(Record& r) noexcept {
  std::atomic<std::uint64_t>* w = word_of(r);
  if (w == nullptr || r.attempts != 0) return false;
  const std::uint64_t id = id_of(static_cast<std::uint32_t>(&r - records_.data()));
  // relaxed: a first guess for the CAS, which decides.
  std::uint64_t expected = w->load(std::memory_order_relaxed);
  // relaxed: the CAS is the whole agreement; pairs with the worker's CAS in claim_task()
  // (worker_loop.cpp): exactly one of the two moves the word away from pending. Only a
  // worker changes the word meanwhile (we hold the lock): a failed CAS means it started.
  if (!leaves_pending(expected, id) ||
      !w->compare_exchange_strong(expected, task_word(id, kTaskCancelled),
                                  std::memory_order_relaxed, std::memory_order_relaxed)) {
    return false;
  }
  for (std::uint32_t k = r.next; k < r.count; ++k) r.sink->cancel_item(r.base + k);
  r.next = r.count;
  retire(r, true);
  return true;
}

bool TaskTable::try_cancel_batch(const StateBase& future) noexcept {
  // (1) The batch's records: all live, none started, rerun or untracked, and together
  // holding every item of the batch (none has settled).
  ResultSink* sink = nullptr;
  std::size_t batch_items = 0;
  std::size_t items = 0;
  std::size_t chunks = 0;
  for (Record& r : records_) {
    if (!r.live || r.owned != nullptr) continue;
    if (sink == nullptr) {
      const ResultSink::Batch b = r.sink->batch();
      if (b.future != &future) continue;
      sink = r.sink;
      batch_items = b.items;
    } else if (r.sink != sink) {
      continue;
    }
    if (r.next != 0 || r.attempts != 0 || word_of(r) == nullptr) return false;
    items += r.count;
    ++chunks;
  }
  if (sink == nullptr || items != batch_items) return false;
  const auto id = [&](const Record& r) {
    return id_of(static_cast<std::uint32_t>(&r - records_.data()));
  };
  // (2) Hold every word. Records are visited in the same order in each pass, and the
  // passes stop after `chunks` records of the batch, so the sink is only compared by
  // address (it may be deleted by the last retire in (3)).
  std::size_t held = 0;
  for (Record& r : records_) {
    if (held == chunks) break;
    if (!r.live || r.sink != sink) continue;
    std::atomic<std::uint64_t>& w = *word_of(r);
    // relaxed: a first guess for the CAS, which decides.
    std::uint64_t expected = w.load(std::memory_order_relaxed);
    // relaxed: the CAS is the whole agreement; pairs with the worker's CAS in claim_task()
    // (worker_loop.cpp): exactly one of the two moves the word away from pending.
    if (!leaves_pending(expected, id(r)) ||
        !w.compare_exchange_strong(expected, task_word(id(r), kTaskHeld), std::memory_order_relaxed,
                                   std::memory_order_relaxed)) {
      break;
    }
    ++held;
  }
  if (held != chunks) {
    // A worker started one: the batch runs. Release the held words.
    std::size_t released = 0;
    for (Record& r : records_) {
      if (released == held) break;
      if (!r.live || r.sink != sink) continue;
      // relaxed: a worker waiting in claim_task() loads it and then CASes pending -> running.
      word_of(r)->store(task_word(id(r), kTaskPending), std::memory_order_relaxed);
      ++released;
    }
    return false;
  }
  // (3) Every word is held: cancel them all; a worker waiting on one skips its message.
  std::size_t cancelled = 0;
  for (Record& r : records_) {
    if (cancelled == chunks) break;
    if (!r.live || r.sink != sink) continue;
    // relaxed: a worker waiting in claim_task() loads it and skips the message.
    word_of(r)->store(task_word(id(r), kTaskCancelled), std::memory_order_relaxed);
    for (std::uint32_t k = 0; k < r.count; ++k) r.sink->cancel_item(r.base + k);
    r.next = r.count;
    ++cancelled;
    retire(r, true);  // the last one completes the future and deletes the sink
  }
  return true;
}

std::size_t TaskTable::cancel_all_pending() noexcept {
  std::size_t n = 0;
  for (Record& r : records_) {
    if (r.live && try_cancel(r)) ++n;
  }
  return n;
}

bool TaskTable::running(const Record& r) const noexcept {
  const std::atomic<std::uint64_t>* w = word_of(r);
  // relaxed: a snapshot; the word decides nothing here.
  return w != nullptr &&
         w->load(std::memory_order_relaxed) ==
             task_word(id_of(static_cast<std::uint32_t>(&r - records_.data())), kTaskRunning);
}

TaskTable::Record* TaskTable::lookup(std::uint64_t id) noexcept {
  const std::uint64_t low = id & 0xffffffffULL;
  if (low == 0 || low > records_.size()) return nullptr;
  Record& r = records_[low - 1];
  if (!r.live || r.generation != static_cast<std::uint32_t>(id >> 32)) return nullptr;
  return &r;
}

void TaskTable::fail_rest(Record& r, const std::exception_ptr& error) noexcept {
  for (std::uint32_t k = r.next; k < r.count; ++k) r.sink->fail(r.base + k, error);
  r.next = r.count;
  retire(r, false);
}

void TaskTable::fail_all(const std::exception_ptr& error) noexcept {
  for (Record& r : records_) {
    if (r.live) fail_rest(r, error);
  }
}

void TaskTable::retire(Record& r, bool decided) noexcept {
  std::atomic<std::uint64_t>* w = decided ? nullptr : word_of(r);
  if (w != nullptr) {
    // relaxed: the word is the whole agreement (nothing is published through it). A message
    // of this use still in a ring (or rerun) is skipped from now on; the next use of the
    // record finds an earlier generation, which leaves its message pending.
    w->store(task_word(id_of(static_cast<std::uint32_t>(&r - records_.data())), kTaskCancelled),
             std::memory_order_relaxed);
  }
  r.live = false;
  if (++r.generation == 0) r.generation = 1;
  if (r.worker >= 0) --queued_[static_cast<std::size_t>(r.worker)];
  if (const std::uint64_t kept = std::exchange(r.kept_payload, 0); kept != 0 && payloads_) {
    // Settled: no rerun can read the task's arguments any more.
    payloads_->remove(payloads_->owner_pid(), kept);
  }
  StateBase* owned = std::exchange(r.owned, nullptr);
  // The sink may complete (and its owner return) inside settled(): nothing touches it after.
  std::exchange(r.sink, nullptr)->settled(r.count);
  free_.push_back(static_cast<std::uint32_t>(&r - records_.data()));
  // release: pairs with the acquire load in empty().
  live_.fetch_sub(1, std::memory_order_release);
  if (owned != nullptr) owned->release_ref();
}

}  // namespace ringpool::pool::detail
