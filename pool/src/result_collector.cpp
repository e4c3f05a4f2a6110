// ResultCollector: reading result messages and settling their items (see
// result_collector.hpp).
#include "result_collector.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <span>
#include <string>
#include <utility>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

namespace {

// A streamed result whose worker writes nothing more for this long (it is stopped) fails with
// DecodeError instead of holding the pool's lock for ever.
constexpr std::chrono::milliseconds kResultStallLimit{5000};

}  // namespace

ResultCollector::ResultCollector(const SharedLayout& layout, TaskTable& table,
                                 const WorkerSupervisor& workers, const PayloadNames& payloads,
                                 std::size_t max_payload)
    : layout_(layout),
      table_(table),
      workers_(workers),
      payloads_(payloads),
      max_payload_(max_payload),
      parts_(layout.workers()),
      lanes_(layout.workers()) {
  results_.reserve(layout.workers());
  for (std::size_t i = 0; i < layout.workers(); ++i) {
    results_.push_back(ipc::SpscByteConsumer::attach(layout.regions(i).results));
  }
}

std::size_t ResultCollector::drain(std::size_t i, std::size_t budget) {
  const auto handle = [this, i](std::span<const std::byte> m) { settle(i, m); };
  std::size_t n = 0;
  while ((budget == 0 || n < budget) && results_[i].try_pop_with(handle)) ++n;
  return n;
}

bool ResultCollector::pending() const noexcept {
  for (const auto& r : results_) {
    if (r.size_approx() != 0) return true;
  }
  return false;
}

void ResultCollector::reset(std::size_t i) {
  parts_[i] = ErrorParts{};  // a dead worker's unfinished error: its task is rerun or lost
  lanes_[i].reset();         // its lane goes (the pool unlinks its name)
  results_[i].reset();
  results_[i] = ipc::SpscByteConsumer::attach(layout_.regions(i).results);
}

// One result message, read in place. A message for a settled record (a late result after
// a retry) is ignored; one out of sequence or truncated fails the record's remaining items.
void ResultCollector::settle(std::size_t worker, std::span<const std::byte> message) noexcept {
  ResultReader reader;
  if (!reader.open(message)) return;
  TaskTable::Record* r = table_.lookup(reader.header().task_id);
  if (r == nullptr) {
    drop_references(worker, reader);
    return;
  }
  if (reader.header().first != r->next || reader.header().count > r->count - r->next) {
    table_.fail_rest(*r, std::make_exception_ptr(DecodeError(
                             "ringpool: a worker sent a result message out of sequence")));
    return;
  }
  ResultReader::Item item;
  for (;;) {
    switch (reader.next(item)) {
      case ResultReader::Next::end:
        return;
      case ResultReader::Next::truncated:
        table_.fail_rest(*r, std::make_exception_ptr(DecodeError(
                                 "ringpool: a worker sent a truncated result message")));
        return;
      case ResultReader::Next::item:
        break;
    }
    if (item.kind == ResultReader::ItemKind::error_part) {
      ErrorParts& parts = parts_[worker];
      if (parts.task_id != reader.header().task_id || parts.item != r->next) {
        parts.task_id = reader.header().task_id;
        parts.item = r->next;
        parts.bytes.clear();
      }
      try {
        // Bounded: a worker never sends more than kMaxErrorBody; the excess is dropped.
        const std::size_t take = std::min(item.bytes.size(), kMaxErrorBody - parts.bytes.size());
        parts.bytes.append(reinterpret_cast<const char*>(item.bytes.data()), take);
      } catch (...) {
        parts.bytes.clear();  // out of memory: the error arrives without its first part
      }
      continue;
    }
    if (item.kind == ResultReader::ItemKind::value) {
      // The values of one length that follow (map()'s results) go in one call.
      const auto len = static_cast<std::uint32_t>(item.bytes.size());
      const std::uint32_t n = 1 + reader.take_run(len, r->count - r->next - 1);
      const bool done = r->next + n == r->count;
      if (n == 1) {
        table_.deliver_next(*r, item.bytes);
      } else {
        table_.deliver_run(*r, item.bytes.data(), kResultItemHeader + item.bytes.size(),
                           item.bytes.size(), n);
      }
      if (done) return;  // retired: `r` may be reused
      continue;
    }
    const bool last = r->next + 1 == r->count;
    if (item.kind == ResultReader::ItemKind::value_ref) {
      if (!deliver_by_reference(worker, *r, item.bytes)) return;  // the worker died
    } else {
      fail_with_error(worker, reader.header().task_id, *r, item.bytes);
    }
    if (last) return;  // retired: `r` may be reused
  }
}

// A late message (its task was settled after a retry): values it holds by reference are
// taken and dropped, so that a one-off segment goes now and the worker's lane is free.
void ResultCollector::drop_references(std::size_t worker, ResultReader& reader) noexcept {
  ResultReader::Item item;
  while (reader.next(item) == ResultReader::Next::item) {
    if (item.kind != ResultReader::ItemKind::value_ref) continue;
    try {
      (void)IncomingPayload::take(payloads_, item.bytes, max_payload_, &lanes_[worker]);
    } catch (...) {
      // A refused reference: nothing to drop.
    }
  }
}

bool ResultCollector::deliver_by_reference(std::size_t worker, TaskTable::Record& r,
                                           std::span<const std::byte> ref) noexcept {
  try {
    const IncomingPayload payload =
        IncomingPayload::take(payloads_, ref, max_payload_, &lanes_[worker]);
    if (payload.written() == nullptr) {
      table_.deliver_next(r, payload.bytes());
      return true;
    }
    // In the worker's lane: the value may still be streaming in; decoded behind the worker.
    struct Sender {
      const WorkerSupervisor* workers;
      std::size_t index;
    } const sender{&workers_, worker};
    const InboundStream stream{payload.bytes().data(),
                               payload.bytes().data() + payload.bytes().size(),
                               payload.written(),
                               [](const void* s) noexcept {
                                 const auto& w = *static_cast<const Sender*>(s);
                                 return w.workers->has_exited(w.index);
                               },
                               &sender,
                               kResultStallLimit};
    const InboundScope scope(&stream);
    return table_.deliver_next_streamed(r, payload.bytes());
  } catch (...) {
    table_.fail_next(r, std::current_exception());
  }
  return true;
}

void ResultCollector::fail_with_error(std::size_t worker, std::uint64_t task_id,
                                      TaskTable::Record& r,
                                      std::span<const std::byte> body) noexcept {
  ErrorParts& parts = parts_[worker];
  if (parts.bytes.empty() || parts.task_id != task_id || parts.item != r.next) {
    table_.fail_next(r, ResultReader::error_of(body));
    return;
  }
  std::exception_ptr error;
  try {
    const std::size_t take = std::min(body.size(), kMaxErrorBody - parts.bytes.size());
    parts.bytes.append(reinterpret_cast<const char*>(body.data()), take);
    error = ResultReader::error_of(std::as_bytes(std::span(parts.bytes)));
  } catch (...) {
    error = std::current_exception();  // out of memory
  }
  parts = ErrorParts{};
  table_.fail_next(r, std::move(error));
}

}  // namespace ringpool::pool::detail
