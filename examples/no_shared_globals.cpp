// Processes do not share global variables: a child works on its own copy (the
// "twins" of the seed). Data moves between processes only through a Queue.
#include <iostream>
#include <string>
#include <vector>

#include "ringpool/pool/process.hpp"
#include "ringpool/pool/queue.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using ringpool::pool::Process;
using ringpool::pool::Queue;

// A global each process has its own copy of.
std::vector<int> g_numbers{1, 2, 3};

std::string show(const std::vector<int>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}

void say(const std::string& line) {
  std::cout << line + "\n" << std::flush;
}

void add_numbers() {
  for (int i = 4; i <= 6; ++i) g_numbers.push_back(i);
  say("child  " + ringpool::this_process::name() + ": g_numbers = " + show(g_numbers));
}

void add_and_send(Queue<std::vector<int>> q) {
  add_numbers();
  q.put(g_numbers);  // the only way the child's data reaches the parent
}

}  // namespace

int main(int argc, char** argv) {
  ringpool::serve_if_worker(argc, argv);

  Process child(add_numbers);
  child.start();
  child.join();
  say("parent MainProcess: g_numbers = " + show(g_numbers) +
      " (unchanged: the child changed its own copy)");

  Queue<std::vector<int>> q(1);
  Process sender(add_and_send, q);
  sender.start();
  const std::vector<int> received = q.get();
  sender.join();
  say("parent received " + show(received) + " through a Queue; its own g_numbers is still " +
      show(g_numbers));
  return 0;
}
