include(CMakePackageConfigHelpers)

set(ringpool_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/ringpool)

install(TARGETS ringpool_base ringpool_ipc ringpool_topology ringpool_pool ringpool
        EXPORT ringpoolTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(module base ipc topology pool)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(EXPORT ringpoolTargets NAMESPACE ringpool:: DESTINATION ${ringpool_cmake_dir})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ringpoolConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/ringpoolConfig.cmake
                              INSTALL_DESTINATION ${ringpool_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ringpoolConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ringpoolConfig.cmake ${PROJECT_BINARY_DIR}/ringpoolConfigVersion.cmake
        DESTINATION ${ringpool_cmake_dir})
