# Run by a compile_fail_<name> test: builds TARGET in BUILD_DIR, expects the build to fail
# with EXPECT (a regex) in the first line that contains "error:".
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but ringpool must refuse it")
endif()
string(REGEX MATCH "[^\n]*error:[^\n]*" first "${out}")
if(NOT first)
  message(FATAL_ERROR "${TARGET} failed without a compiler error:\n${out}")
endif()
if(NOT first MATCHES "${EXPECT}")
  message(FATAL_ERROR "${TARGET}: the first error is\n  ${first}\nexpected it to match\n  ${EXPECT}\nfull output:\n${out}")
endif()
message(STATUS "first error, as expected: ${first}")
