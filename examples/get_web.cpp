// The seed's first program: two daemon processes "fetch" web pages, the main process
// joins them. Shows positional arguments, kwargs-style parameters (a struct with
// designated initialisers), pid/ppid, terminate() and the exit code of a killed child.
//
// Python:
//   p1 = multiprocessing.Process(target=get_web, args=('baidu',))
//   p1.daemon = True; p1.start(); p1.join()
//   coding_process = multiprocessing.Process(target=coding, kwargs={'count': 3})
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "ringpool/pool/process.hpp"
#include "ringpool/pool/spawn.hpp"
#include "ringpool/pool/this_process.hpp"

namespace {

using ringpool::pool::Process;
using ringpool::pool::ProcessOptions;
namespace this_process = ringpool::this_process;

void say(const std::string& line) {
  std::cout << line + "\n" << std::flush;
}

void get_web(const std::string& name) {
  std::ostringstream out;
  out << this_process::name() << ": get web according " << name << " (pid " << this_process::pid()
      << ", parent " << this_process::ppid() << ")";
  say(out.str());
}

// kwargs={'count': 3} becomes a struct filled with designated initialisers.
struct CodingArgs {
  int count = 1;
  std::string language = "C++";
};

void coding(const CodingArgs& args) {
  for (int i = 0; i < args.count; ++i) {
    say(this_process::name() + ": coding in " + args.language + " #" + std::to_string(i + 1));
  }
}

void wait_to_be_terminated() {
  for (;;) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace

int main(int argc, char** argv) {
  ringpool::serve_if_worker(argc, argv);  // ringpool's `if __name__ == '__main__':`
  say("main process pid " + std::to_string(this_process::pid()));

  Process p1(get_web, std::string("baidu"));
  Process p2(get_web, std::string("tengxun"));
  // Daemon children die with the main process (also if it is killed).
  p1.set_daemon(true);
  p2.set_daemon(true);
  p1.start();
  p2.start();
  // join: wait for each child before going on.
  p1.join();
  p2.join();
  say("p1 exit code " + std::to_string(*p1.exitcode()) + ", p2 exit code " +
      std::to_string(*p2.exitcode()));

  Process coder(ProcessOptions{.name = "coding_process"}, coding, CodingArgs{.count = 3});
  coder.start();
  coder.join();

  // os.kill(pid, 15) / terminate(): the exit code is minus the signal, as in Python.
  Process sleeper(ProcessOptions{.name = "sleeper"}, wait_to_be_terminated);
  sleeper.start();
  sleeper.terminate();
  sleeper.join();
  say("sleeper was terminated, exit code " + std::to_string(*sleeper.exitcode()));

  say("program finished");  // 程序运行结束
  return 0;
}
