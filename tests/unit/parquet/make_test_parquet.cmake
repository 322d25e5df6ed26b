# Runs at test time as the ctest fixture `parquet_test_data` (see tests.cmake): copies the generator
# and its pinned npm manifest into NPM_DIR (a build-tree folder: the suite writes nothing into the
# source tree, which may be read-only), installs the DuckDB npm package there when it is missing or
# the lock file changed, then writes the generated Parquet files and their expected values into
# OUT_DIR.
# cmake -DNODE=... -DNPM=... -DSCRIPT_DIR=... -DNPM_DIR=... -DFIXTURES_DIR=... -DOUT_DIR=... -P make_test_parquet.cmake
if(NOT NODE OR NODE MATCHES "NOTFOUND$")
  message(FATAL_ERROR "parquet test data: Node.js was not found when CMake configured the build; "
                      "install Node.js 20 and npm (Debian: apt-get install nodejs npm) and re-run cmake")
endif()
file(MAKE_DIRECTORY "${NPM_DIR}")
# Node resolves `@duckdb/node-api` from the script's own folder, so the script runs from NPM_DIR.
foreach(f make_test_parquet.mjs package.json package-lock.json)
  configure_file("${SCRIPT_DIR}/${f}" "${NPM_DIR}/${f}" COPYONLY)
endforeach()
file(SHA256 "${NPM_DIR}/package-lock.json" lock_sha)
set(stamp "${NPM_DIR}/node_modules/.omnitune-lock-sha256")
set(installed "")
if(EXISTS "${stamp}")
  file(READ "${stamp}" installed)
endif()
if(NOT EXISTS "${NPM_DIR}/node_modules/@duckdb/node-api/package.json" OR NOT installed STREQUAL lock_sha)
  if(NOT NPM OR NPM MATCHES "NOTFOUND$")
    message(FATAL_ERROR "parquet test data: npm was not found; install npm (Debian: apt-get install npm) "
                        "and re-run cmake")
  endif()
  message(STATUS "parquet test data: npm ci --prefix ${NPM_DIR}")
  execute_process(COMMAND "${NPM}" ci --prefix "${NPM_DIR}" --no-audit --no-fund RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "parquet test data: `npm ci` in ${NPM_DIR} failed (exit ${rc}); it needs "
                        "the npm registry to install @duckdb/node-api")
  endif()
  file(WRITE "${stamp}" "${lock_sha}")
endif()
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${NODE}" "${NPM_DIR}/make_test_parquet.mjs" "${OUT_DIR}" "${FIXTURES_DIR}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "parquet test data: make_test_parquet.mjs failed (exit ${rc})")
endif()
