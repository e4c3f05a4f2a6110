# Run by a compile_fail_<name> test: compiles SOURCE with COMPILER and ARGS (a list),
# expects the compilation to fail with EXPECT (a regex) in the first line that contains
# "error:".
execute_process(COMMAND ${COMPILER} ${ARGS} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
get_filename_component(name ${SOURCE} NAME)
if(rc EQUAL 0)
  message(FATAL_ERROR "${name} compiled, but ringpool must refuse it")
endif()
string(REGEX MATCH "[^\n]*error:[^\n]*" first "${out}")
if(NOT first)
  message(FATAL_ERROR "${name} failed without a compiler error:\n${out}")
endif()
if(NOT first MATCHES "${EXPECT}")
  message(FATAL_ERROR "${name}: the first error is\n  ${first}\nexpected it to match\n  ${EXPECT}\nfull output:\n${out}")
endif()
message(STATUS "first error, as expected: ${first}")
