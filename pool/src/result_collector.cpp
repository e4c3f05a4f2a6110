// ResultCollector: reading result messages and settling their items (see
// result_collector.hpp).
#include "result_collector.hpp"

#include <exception>
#include <utility>

#include "ringpool/pool/detail/task_wire.hpp"
#include "ringpool/pool/errors.hpp"

namespace ringpool::pool::detail {

ResultCollector::ResultCollector(const SharedLayout& layout, TaskTable& table)
    : layout_(layout), table_(table) {
  results_.reserve(layout.workers());
  for (std::size_t i = 0; i < layout.workers(); ++i) {
    results_.push_back(ipc::SpscByteConsumer::attach(layout.regions(i).results));
  }
}

std::size_t ResultCollector::drain(std::size_t i, std::size_t budget) {
  const auto handle = [this](std::span<const std::byte> m) { settle(m); };
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
  results_[i].reset();
  results_[i] = ipc::SpscByteConsumer::attach(layout_.regions(i).results);
}

// One result message, read in place. A message for a settled record (a late result after
// a retry) is ignored; one out of sequence or truncated fails the record's remaining items.
void ResultCollector::settle(std::span<const std::byte> message) noexcept {
  ResultReader reader;
  if (!reader.open(message)) return;
  TaskTable::Record* r = table_.lookup(reader.header().task_id);
  if (r == nullptr) return;
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
    const bool last = r->next + 1 == r->count;
    if (item.ok) {
      table_.deliver_next(*r, item.bytes);
    } else {
      try {
        auto text = ResultReader::error_of(item.bytes);
        table_.fail_next(*r, std::make_exception_ptr(
                                 TaskFailed(std::move(text.type_name), std::move(text.what))));
      } catch (...) {
        table_.fail_next(*r, std::current_exception());  // out of memory
      }
    }
    if (last) return;  // retired: `r` may be reused
  }
}

}  // namespace ringpool::pool::detail
