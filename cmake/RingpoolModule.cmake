# ringpool_add_module(<name> SOURCES <files...>)
# One static library per module: target ringpool_<name>, alias ringpool::<name>, public
# headers in <module>/include, exported as ringpool::<name>. Link dependencies are added by
# the caller with target_link_libraries.
function(ringpool_add_module name)
  cmake_parse_arguments(arg "" "" "SOURCES" ${ARGN})
  set(target ringpool_${name})
  add_library(${target} ${arg_SOURCES})
  add_library(ringpool::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME ${target})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${target} PUBLIC cxx_std_20)
  ringpool_set_warnings(${target})
endfunction()
