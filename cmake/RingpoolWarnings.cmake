# Warnings every ringpool target is built with (applied PRIVATE, never exported), and
# the unity-batch switch.
function(ringpool_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wno-sign-conversion)
  if(RINGPOOL_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Compiles `target`'s sources in unity batches of 8 when RINGPOOL_UNITY is on: headers
# (GoogleTest, CLI11, nlohmann-json, ringpool's templates) are parsed and instantiated once
# per batch instead of once per file, which halves the build. Used for the test binaries,
# the CLI and the report library; the ring and pool libraries stay one object per file.
function(ringpool_unity target)
  if(RINGPOOL_UNITY)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  endif()
endfunction()
