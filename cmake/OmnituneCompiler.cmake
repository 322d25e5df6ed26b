# Compiler settings shared by every target: warnings (the tree builds -Wall -Wextra clean) and
# ccache when present (LibTorch-heavy translation units take ~20 s each on 2 cores).

add_library(omnitune_warnings INTERFACE)
target_compile_options(omnitune_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wno-unused-parameter>)

find_program(CCACHE_PROGRAM ccache)
set(OMNITUNE_CCACHE OFF)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # The sloppiness settings let ccache cache translation units built with precompiled headers;
  # BASEDIR + NOHASHDIR let a fresh clone in another directory (CI) hit the cache of earlier builds.
  set(CMAKE_CXX_COMPILER_LAUNCHER
      ${CMAKE_COMMAND} -E env CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} CCACHE_NOHASHDIR=1
      ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CMAKE_CXX_COMPILER_LAUNCHER})
  set(OMNITUNE_CCACHE ON)
endif()
