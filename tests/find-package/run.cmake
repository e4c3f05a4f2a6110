# Installs the build tree into a scratch prefix, then builds and runs consumers that know
# ringpool only as an installed package:
#   1. a CMake project using find_package(ringpool) (CMakeLists.txt here), which also
#      checks that another minor version is refused while ringpool is 0.x;
#   2. the same main.cpp compiled by hand with the flags `pkg-config ringpool` gives.
# Also checks that the licence is installed.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run_step)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "find-package consumer step failed (${rc}): ${ARGN}")
  endif()
endfunction()

run_step(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})

if(NOT EXISTS ${prefix}/share/doc/ringpool/LICENSE)
  message(FATAL_ERROR "the licence is not installed as share/doc/ringpool/LICENSE")
endif()

# A version of ringpool the installed package must refuse: the previous minor version
# while 0.x (SameMinorVersion), the previous major version from 1.0 on.
string(REPLACE "." ";" parts ${VERSION})
list(GET parts 0 major)
list(GET parts 1 minor)
if(major EQUAL 0 AND minor GREATER 0)
  math(EXPR older "${minor} - 1")
  set(incompatible 0.${older})
elseif(major GREATER 0)
  math(EXPR older "${major} - 1")
  set(incompatible ${older}.0)
endif()

run_step(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
         -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX}
         -DRINGPOOL_VERSION=${VERSION} -DRINGPOOL_INCOMPATIBLE_VERSION=${incompatible}
         -DCMAKE_CXX_FLAGS=${CXX_FLAGS} -DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS})
run_step(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run_step(${WORK_DIR}/build/consumer)

# pkg-config: only the installed ringpool.pc tells the compiler where everything is.
set(pc_env PKG_CONFIG_PATH=${prefix}/${LIBDIR}/pkgconfig)
execute_process(COMMAND ${CMAKE_COMMAND} -E env ${pc_env} ${PKG_CONFIG} --modversion ringpool
                OUTPUT_VARIABLE pc_version OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT pc_version STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config --modversion ringpool gave '${pc_version}' (${rc}), "
                      "expected ${VERSION}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E env ${pc_env} ${PKG_CONFIG} --cflags --libs ringpool
                OUTPUT_VARIABLE pc_flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs ringpool failed (${rc})")
endif()
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
separate_arguments(extra_cxx UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(extra_link UNIX_COMMAND "${LINK_FLAGS}")
run_step(${CXX} -std=c++20 ${extra_cxx} ${SOURCE_DIR}/main.cpp -o ${WORK_DIR}/consumer_pc
         ${pc_flags} ${extra_link})
run_step(${WORK_DIR}/consumer_pc)
