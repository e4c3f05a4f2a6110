// Pipe ping-pong between two Processes, as Python's
//
//   a, b = Pipe()
//   Process(target=pinger, args=(a,)).start(); Process(target=ponger, args=(b,)).start()
//
// The pinger sends "ping <n>", the ponger answers "pong <n>"; after the last round the
// pinger closes the pipe and the ponger's recv() throws Closed (Python's EOFError).
#include <iostream>
#include <string>

#include "ringpool/pool/errors.hpp"
#include "ringpool/pool/pipe.hpp"
#include "ringpool/pool/process.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using ringpool::pool::Connection;
using ringpool::pool::Process;

constexpr int kRounds = 3;

void say(const std::string& line) {
  std::cout << line + "\n" << std::flush;
}

void pinger(Connection<std::string> conn) {
  for (int i = 1; i <= kRounds; ++i) {
    conn.send("ping " + std::to_string(i));
    say(ringpool::this_process::name() + " got " + conn.recv());
  }
  conn.close();
}

void ponger(Connection<std::string> conn) {
  int answered = 0;
  for (;;) {
    std::string message;
    try {
      message = conn.recv();
    } catch (const ringpool::pool::Closed&) {
      break;  // closed and drained
    }
    say(ringpool::this_process::name() + " got " + message);
    conn.send("pong" + message.substr(4));
    ++answered;
  }
  say("ponger answered " + std::to_string(answered) + " pings, then saw the pipe closed");
}

}  // namespace

int main() {
  auto [a, b] = ringpool::pool::Pipe<std::string>();
  Process ping(pinger, a);
  Process pong(ponger, b);
  ping.start();
  pong.start();
  ping.join();
  pong.join();
  std::cout << "exit codes: pinger " << ping.exitcode().value_or(-1) << ", ponger "
            << pong.exitcode().value_or(-1) << "\n";
  return ping.exitcode() == 0 && pong.exitcode() == 0 ? 0 : 1;
}
