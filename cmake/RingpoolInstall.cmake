include(CMakePackageConfigHelpers)

set(ringpool_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ringpool)
set(ringpool_pkgconfig_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(ringpool_installed_modules base ipc topology pool)
if(RINGPOOL_HAVE_CLUSTER)
  list(APPEND ringpool_installed_modules cluster)
endif()
list(TRANSFORM ringpool_installed_modules PREPEND ringpool_ OUTPUT_VARIABLE ringpool_installed_targets)
install(TARGETS ${ringpool_installed_targets} ringpool
        EXPORT ringpoolTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(module ${ringpool_installed_modules})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(EXPORT ringpoolTargets NAMESPACE ringpool:: DESTINATION ${ringpool_cmake_dir})

# While the version is 0.x a new minor version may break the API, so only the same minor
# version is compatible; from 1.0 on, the same major version.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(ringpool_compatibility SameMinorVersion)
else()
  set(ringpool_compatibility SameMajorVersion)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ringpoolConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/ringpoolConfig.cmake
                              INSTALL_DESTINATION ${ringpool_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringpoolConfigVersion.cmake
                                 COMPATIBILITY ${ringpool_compatibility})
install(FILES ${PROJECT_BINARY_DIR}/ringpoolConfig.cmake ${PROJECT_BINARY_DIR}/ringpoolConfigVersion.cmake
        DESTINATION ${ringpool_cmake_dir})

# ringpool.pc beside the CMake package. Relocatable: paths are relative to the .pc file, so
# `cmake --install --prefix P` works for any P. Static libraries need hwloc at link time
# (Requires); shared ones only inside themselves (Requires.private).
file(RELATIVE_PATH ringpool_pc_prefix_from_pcdir /prefix/${ringpool_pkgconfig_dir} /prefix)
foreach(kind libdir includedir)
  string(TOUPPER ${kind} upper)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${upper}}")
    set(ringpool_pc_${kind} "${CMAKE_INSTALL_${upper}}")
  else()
    set(ringpool_pc_${kind} "\${prefix}/${CMAKE_INSTALL_${upper}}")
  endif()
endforeach()
if(BUILD_SHARED_LIBS)
  set(ringpool_pc_requires Requires.private)
else()
  set(ringpool_pc_requires Requires)
endif()
# With the cluster module: its library first, and Open MPI's C library (Debian's ompi-c.pc).
if(RINGPOOL_HAVE_CLUSTER)
  set(ringpool_pc_cluster_lib "-lringpool_cluster ")
  set(ringpool_pc_cluster_requires " ompi-c")
else()
  set(ringpool_pc_cluster_lib "")
  set(ringpool_pc_cluster_requires "")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/ringpool.pc.in ${PROJECT_BINARY_DIR}/ringpool.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ringpool.pc DESTINATION ${ringpool_pkgconfig_dir})

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
