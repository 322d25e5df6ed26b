# Safetensors and SHA-256 unit tests, include()d from tests/unit/CMakeLists.txt, plus a bounded
# libFuzzer run of the safetensors parser. libFuzzer needs clang while the main build may use g++,
# so the fuzzer is compiled by a custom command that calls clang++ on the few core files it needs.

omnitune_add_unit_test(safetensors_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/safetensors_test.cpp
  LIBS omnitune_core
  LABELS safetensors)
omnitune_add_unit_test(sha256_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sha256_test.cpp
  LIBS omnitune_core
  LABELS safetensors)

find_program(OMNITUNE_CLANGXX NAMES clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14
             DOC "clang++ used to build libFuzzer targets")
if(OMNITUNE_CLANGXX)
  set(_st_fuzz_bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors)
  set(_st_fuzz_sources
    ${CMAKE_CURRENT_LIST_DIR}/fuzz_safetensors.cpp
    ${PROJECT_SOURCE_DIR}/src/core/safetensors.cpp
    ${PROJECT_SOURCE_DIR}/src/core/text_util.cpp)
  # nlohmann_json's include directory, unless it is the system one (adding /usr/include with -I
  # would reorder the standard headers' #include_next chain).
  get_target_property(_st_json_dirs nlohmann_json::nlohmann_json INTERFACE_INCLUDE_DIRECTORIES)
  set(_st_json_flags)
  foreach(_dir IN LISTS _st_json_dirs)
    if(_dir AND NOT _dir STREQUAL "/usr/include")
      list(APPEND _st_json_flags -isystem ${_dir})
    endif()
  endforeach()
  add_custom_command(
    OUTPUT ${_st_fuzz_bin}
    COMMAND ${OMNITUNE_CLANGXX} -std=c++17 -g -O1 -Wall -Wextra
            -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I${PROJECT_SOURCE_DIR}/src ${_st_json_flags} ${_st_fuzz_sources} -o ${_st_fuzz_bin}
    DEPENDS ${_st_fuzz_sources}
            ${PROJECT_SOURCE_DIR}/src/core/safetensors.h ${PROJECT_SOURCE_DIR}/src/core/error.h
    COMMENT "Building the safetensors fuzzer with ${OMNITUNE_CLANGXX} (libFuzzer + ASan + UBSan)"
    VERBATIM)
  # The target's name differs from the file's: Ninja refuses a phony target and a file of one name.
  add_custom_target(fuzz_safetensors_build ALL DEPENDS ${_st_fuzz_bin})

  # Fresh work dir each run: the target writes its seeds (valid files made by the writer) into
  # seeds/, new inputs go to corpus/, and a crash leaves crash-* there and fails the test.
  set(_st_fuzz_work ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors_work)
  add_test(NAME safetensors_fuzz
    COMMAND sh -c [[rm -rf "$2" && mkdir -p "$2/corpus" &&
OMNITUNE_FUZZ_SEED_DIR="$2/seeds" exec "$1" -max_total_time=20 -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$2/" "$2/corpus" "$2/seeds"]]
            sh ${_st_fuzz_bin} ${_st_fuzz_work})
  set_tests_properties(safetensors_fuzz PROPERTIES LABELS "unit;safetensors;fuzz" TIMEOUT 120)
else()
  message(WARNING "clang++ not found: the safetensors fuzz test (safetensors_fuzz) cannot be built "
                  "and will FAIL. Install clang (scripts/install-deps.sh does) and re-run cmake.")
  add_test(NAME safetensors_fuzz
    COMMAND sh -c "echo 'safetensors_fuzz: clang++ is needed to build the libFuzzer target; install clang (scripts/install-deps.sh) and re-run cmake' >&2; exit 1")
  set_tests_properties(safetensors_fuzz PROPERTIES LABELS "unit;safetensors;fuzz")
endif()
