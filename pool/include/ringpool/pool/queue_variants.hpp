#pragma once
// JoinableQueue<T> and SimpleQueue<T>: Python's other two multiprocessing queues, over a
// Queue<T> (queue.hpp, which includes this header).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "ringpool/ipc/segment.hpp"
#include "ringpool/pool/queue.hpp"
#include "ringpool/pool/queue_options.hpp"

namespace ringpool::pool {

namespace detail {

// The shared unfinished-task count of a JoinableQueue (queue_variants.cpp): an anonymous segment
// with the count and the EventCount join() sleeps on.
class JoinCounter {
 public:
  static std::shared_ptr<JoinCounter> create_anonymous();

  // One more unfinished task; called before its item is enqueued.
  void add() noexcept;
  // The item of the last add() was not enqueued after all.
  void cancel_add() noexcept;
  // One task finished. Throws InvalidState when no task is unfinished.
  void task_done();
  // True once no task is unfinished; false at `deadline` (nullopt: waits without limit).
  bool wait_all_done(std::optional<std::chrono::steady_clock::time_point> deadline);
  [[nodiscard]] std::size_t unfinished_approx() const noexcept;

  struct Shared;  // the segment's contents (queue_variants.cpp)

 private:
  JoinCounter() = default;
  // Decrements unless the count is 0; returns the value before (0: nothing changed).
  std::uint64_t decrement() noexcept;

  std::shared_ptr<ipc::Segment> segment_;
  Shared* shared_ = nullptr;
};

}  // namespace detail

// Python's multiprocessing.JoinableQueue(maxsize): a Queue<T> that also counts unfinished
// tasks. Every successful put adds one; a consumer calls task_done() once per item it has
// finished with; join() blocks until the count is back to 0. Copies (also in forked
// children) share the queue and the count. Anonymous only (create it before fork).
// Not crash-safe for join(): a consumer that dies between get and task_done leaves its task
// unfinished, so join() without a timeout would wait for ever (as Python's); use
// join(timeout).
template <class T>
class JoinableQueue {
 public:
  using value_type = T;

  // maxsize 0: kUnboundedQueueMaxsize, as Queue.
  explicit JoinableQueue(std::size_t maxsize = 0, QueueOptions options = {})
      : queue_(maxsize, options), counter_(detail::JoinCounter::create_anonymous()) {}

  // As Queue::put / try_put; a put that fails (throws or returns false) adds no task.
  void put(const T& value) {
    put_counted([&] { queue_.put(value); });
  }
  void put(const T& value, std::chrono::nanoseconds timeout) {
    put_counted([&] { queue_.put(value, timeout); });
  }
  [[nodiscard]] bool try_put(const T& value) {
    counter_->add();
    bool put = false;
    try {
      put = queue_.try_put(value);
    } catch (...) {
      counter_->cancel_add();
      throw;
    }
    if (!put) counter_->cancel_add();
    return put;
  }
  // As Queue::get / try_get (a get does not finish a task: call task_done()).
  [[nodiscard]] T get() { return queue_.get(); }
  [[nodiscard]] T get(std::chrono::nanoseconds timeout) { return queue_.get(timeout); }
  [[nodiscard]] std::optional<T> try_get() { return queue_.try_get(); }

  // One task is finished. Throws InvalidState when called more often than items were put
  // (Python's ValueError "task_done() called too many times"). Any process, any thread.
  void task_done() { counter_->task_done(); }
  // Blocks until every item put so far has been task_done()'d.
  void join() { static_cast<void>(counter_->wait_all_done(std::nullopt)); }
  // Same, at most `timeout`: false when tasks were still unfinished.
  [[nodiscard]] bool join(std::chrono::nanoseconds timeout) {
    return counter_->wait_all_done(std::chrono::steady_clock::now() + timeout);
  }
  // Tasks put and not yet task_done()'d (racy by nature).
  [[nodiscard]] std::size_t unfinished_tasks_approx() const noexcept {
    return counter_->unfinished_approx();
  }

  [[nodiscard]] std::size_t size_approx() const noexcept { return queue_.size_approx(); }
  [[nodiscard]] bool empty() const noexcept { return queue_.empty(); }
  [[nodiscard]] bool full() const noexcept { return queue_.full(); }
  [[nodiscard]] std::size_t maxsize() const noexcept { return queue_.maxsize(); }
  [[nodiscard]] std::size_t slot_size() const noexcept { return queue_.slot_size(); }
  void close() noexcept { queue_.close(); }
  [[nodiscard]] bool is_closed() const noexcept { return queue_.is_closed(); }

 private:
  template <class Put>
  void put_counted(Put&& put) {
    // Counted before the item can be seen: its task_done() never finds the count at 0.
    counter_->add();
    try {
      put();
    } catch (...) {
      counter_->cancel_add();
      throw;
    }
  }

  Queue<T> queue_;
  std::shared_ptr<detail::JoinCounter> counter_;
};

// Python's multiprocessing.SimpleQueue: put, get, empty, close and nothing else, over a
// Queue<T> of maxsize 0 (kUnboundedQueueMaxsize items; put blocks only beyond that).
template <class T>
class SimpleQueue {
 public:
  using value_type = T;

  explicit SimpleQueue(QueueOptions options = {}) : queue_(0, options) {}

  // Throws PayloadTooLarge, Closed.
  void put(const T& value) { queue_.put(value); }
  // Blocks while empty; throws Closed once closed and drained.
  [[nodiscard]] T get() { return queue_.get(); }
  // Racy by nature, as Python's.
  [[nodiscard]] bool empty() const noexcept { return queue_.empty(); }
  // As Queue::close(): puts fail at once, gets drain then throw Closed.
  void close() noexcept { queue_.close(); }

 private:
  Queue<T> queue_;
};

}  // namespace ringpool::pool