# Every external dependency is found here, once. Debian 12 packages for the `cpu` preset
# (scripts/install-deps.sh installs them); a CUDA LibTorch for the `cuda` preset.

find_package(Threads REQUIRED)
find_package(MPI REQUIRED COMPONENTS C CXX)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(Torch REQUIRED)
find_package(GTest)

# Torch's CMake config adds its flags globally through TORCH_CXX_FLAGS (the C++11 ABI define);
# apply them so every target agrees on the ABI.
if(TORCH_CXX_FLAGS)
  set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} ${TORCH_CXX_FLAGS}")
endif()

# PyTorch's pip wheels export a copy of std::filesystem from libtorch.so (libstdc++fs linked in).
# An executable linked against them binds its std::filesystem calls to that copy, and
# std::filesystem::remove_all crashes there (seen with torch 2.11 wheels on Ubuntu 24.04). The
# shared libstdc++ placed first among the executable's libraries wins the dynamic symbol lookup.
if(TORCH_LIBRARY AND EXISTS "${TORCH_LIBRARY}")
  execute_process(COMMAND nm -D --defined-only "${TORCH_LIBRARY}" OUTPUT_VARIABLE _ot_torch_syms ERROR_QUIET)
  if(_ot_torch_syms MATCHES "_ZNSt10filesystem10remove_all")
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++.so.6
                    OUTPUT_VARIABLE _ot_libstdcxx OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT IS_ABSOLUTE "${_ot_libstdcxx}")
      find_library(_ot_libstdcxx NAMES libstdc++.so.6 stdc++ REQUIRED)
    endif()
    string(PREPEND CMAKE_EXE_LINKER_FLAGS "-Wl,--push-state,--no-as-needed ${_ot_libstdcxx} -Wl,--pop-state ")
    message(STATUS "omnitune: ${TORCH_LIBRARY} exports std::filesystem; executables link ${_ot_libstdcxx} first")
  endif()
endif()

# NCCL backend: needs the CUDA toolkit (runtime API headers + cudart) and NCCL. It is compiled
# whenever both are found, even against a CPU-only LibTorch, so CI proves it builds.
set(OMNITUNE_HAVE_NCCL OFF)
if(NOT OMNITUNE_WITH_NCCL STREQUAL "OFF")
  find_package(CUDAToolkit QUIET)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${CUDAToolkit_INCLUDE_DIRS} ENV NCCL_HOME PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY nccl HINTS ${CUDAToolkit_LIBRARY_DIR} ENV NCCL_HOME PATH_SUFFIXES lib lib64)
  if(CUDAToolkit_FOUND AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(OMNITUNE_HAVE_NCCL ON)
  elseif(OMNITUNE_WITH_NCCL STREQUAL "ON")
    message(FATAL_ERROR "OMNITUNE_WITH_NCCL=ON but CUDA toolkit (${CUDAToolkit_FOUND}) or NCCL "
                        "(${NCCL_INCLUDE_DIR}, ${NCCL_LIBRARY}) was not found; set NCCL_HOME")
  endif()
endif()

# LibTorch built with CUDA exposes c10_cuda; only then can NcclComm follow LibTorch's current stream.
set(OMNITUNE_TORCH_CUDA OFF)
if(TORCH_CUDA_LIBRARIES OR TARGET c10_cuda)
  set(OMNITUNE_TORCH_CUDA ON)
endif()
