# Runs at test time as the ctest fixture `parquet_test_data` (see tests.cmake): installs the
# pinned DuckDB npm package next to make_test_parquet.mjs when it is missing, then writes the
# generated Parquet files and their expected values into OUT_DIR.
# cmake -DNODE=... -DNPM=... -DSCRIPT_DIR=... -DOUT_DIR=... -P make_test_parquet.cmake
if(NOT NODE OR NODE MATCHES "NOTFOUND$")
  message(FATAL_ERROR "parquet test data: Node.js was not found when CMake configured the build; "
                      "install Node.js 20 and npm (Debian: apt-get install nodejs npm) and re-run cmake")
endif()
if(NOT EXISTS "${SCRIPT_DIR}/node_modules/@duckdb/node-api/package.json")
  if(NOT NPM OR NPM MATCHES "NOTFOUND$")
    message(FATAL_ERROR "parquet test data: npm was not found; install npm (Debian: apt-get install npm) "
                        "and re-run cmake, or run `npm ci` in ${SCRIPT_DIR}")
  endif()
  message(STATUS "parquet test data: npm ci --prefix ${SCRIPT_DIR}")
  execute_process(COMMAND "${NPM}" ci --prefix "${SCRIPT_DIR}" --no-audit --no-fund
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "parquet test data: `npm ci` in ${SCRIPT_DIR} failed (exit ${rc}); it needs "
                        "the npm registry to install @duckdb/node-api")
  endif()
endif()
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${NODE}" "${SCRIPT_DIR}/make_test_parquet.mjs" "${OUT_DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "parquet test data: make_test_parquet.mjs failed (exit ${rc})")
endif()
