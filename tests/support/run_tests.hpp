#pragma once
// The main() of ringpool's test binaries, as a function so that a binary whose main()
// must do something first (pool: ringpool::serve_if_worker) can call it afterwards.
//
// Besides GoogleTest's own flags it understands --ringpool_test_file=NAME: run only the
// tests defined in the source file NAME (its file name, e.g. spsc_ring_test.cpp), still
// narrowed by --gtest_filter when that is given too. CTest registers one test per source
// file this way (tests/CMakeLists.txt, ringpool_test_file), so that each file keeps its own
// labels while a module's files share one binary. A NAME that selects no test is an error,
// never a silent pass. --ringpool_expect_files=A:B:... runs nothing and fails when a test
// is defined in a file not in that list (it would never run).
namespace ringpool::test {

[[nodiscard]] int run_tests(int argc, char** argv);

}  // namespace ringpool::test
