# Parquet reader tests; include()d from tests/unit/CMakeLists.txt.
#   parquet_unit_test       format primitives, the real MedPix fixture, corrupt files (needs nothing
#                           beyond the checkout and its tests/fixtures)
#   parquet_generated_test  files written at test time by make_test_parquet.mjs (Node.js + DuckDB
#                           from npm) through the ctest fixture `parquet_test_data`
omnitune_add_unit_test(parquet_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/parquet_format_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/parquet_fixture_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/parquet_corrupt_test.cpp
  LIBS omnitune_parquet Threads::Threads)
omnitune_add_unit_test(parquet_generated_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/parquet_generated_test.cpp
  LIBS omnitune_parquet)

# Test data is generated into the build tree, never committed. The npm package (pinned in
# package.json / package-lock.json) is installed into the build tree too (parquet_npm), never into
# the source tree.
set(OMNITUNE_PARQUET_TEST_DATA ${CMAKE_CURRENT_BINARY_DIR}/parquet_test_data)
find_program(OMNITUNE_NODE_EXECUTABLE node)
find_program(OMNITUNE_NPM_EXECUTABLE npm)
add_test(NAME parquet_make_test_data
  COMMAND ${CMAKE_COMMAND}
    -DNODE=${OMNITUNE_NODE_EXECUTABLE} -DNPM=${OMNITUNE_NPM_EXECUTABLE}
    -DSCRIPT_DIR=${CMAKE_CURRENT_LIST_DIR} -DNPM_DIR=${CMAKE_CURRENT_BINARY_DIR}/parquet_npm
    -DFIXTURES_DIR=${PROJECT_SOURCE_DIR}/tests/fixtures -DOUT_DIR=${OMNITUNE_PARQUET_TEST_DATA}
    -P ${CMAKE_CURRENT_LIST_DIR}/make_test_parquet.cmake)
set_tests_properties(parquet_make_test_data PROPERTIES
  FIXTURES_SETUP parquet_test_data LABELS "unit" TIMEOUT 900)
set_tests_properties(parquet_generated_test PROPERTIES
  FIXTURES_REQUIRED parquet_test_data
  ENVIRONMENT "OMNITUNE_PARQUET_TEST_DATA=${OMNITUNE_PARQUET_TEST_DATA}")
