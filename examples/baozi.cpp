// The seed's baozi (steamed bun) shop: two producer processes and one consumer share a
// Queue that holds a single bun (maxsize = 1), so producers wait for the consumer.
// Unlike the seed, it ends on its own: once both producers are joined the main process
// closes the queue, and the consumer stops when it is closed and drained.
#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using ringpool::pool::Process;
using ringpool::pool::Queue;
using namespace std::chrono_literals;

void say(const std::string& line) {
  std::cout << line + "\n" << std::flush;
}

void produce(Queue<std::string> q) {
  const char* kinds[] = {"pork (猪肉)", "cabbage (白菜)", "red bean (豆沙)"};
  for (int i = 0; i < 3; ++i) {
    say(ringpool::this_process::name() + " producer starts making a baozi...");
    std::this_thread::sleep_for(20ms);
    q.put(kinds[i % 3]);  // blocks while the queue already holds a bun
    say(ringpool::this_process::name() + " producer's baozi is done!");
  }
}

void consume(Queue<std::string> q) {
  int eaten = 0;
  for (;;) {
    say(ringpool::this_process::name() + " consumer is ready to eat");
    std::string bun;
    try {
      bun = q.get();  // blocks while empty
    } catch (const ringpool::pool::Closed&) {
      break;  // closed and drained: the shop is shut
    }
    ++eaten;
    say("consumer ate a " + bun + " baozi!");
  }
  say("consumer ate " + std::to_string(eaten) + " baozi in total");
}

}  // namespace

int main(int argc, char** argv) {
  ringpool::serve_if_worker(argc, argv);
  Queue<std::string> q(1);  // a queue that holds one bun

  Process producer1(produce, q);
  Process producer2(produce, q);
  Process consumer(consume, q);
  producer1.start();
  producer2.start();
  consumer.start();

  producer1.join();
  producer2.join();
  q.close();  // no more buns: the consumer drains the queue and stops
  consumer.join();
  say("shop closed, consumer exit code " + std::to_string(*consumer.exitcode()));
  return 0;
}
