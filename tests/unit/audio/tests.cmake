# Audio unit tests, include()d from tests/unit/CMakeLists.txt. media_audio_test needs only the
# libraries and the fixtures (tests/fixtures/audio); media_audio_parity_test compares the
# Gemma 3n log-mel with references that the fixture test media_audio_refs computes at test time
# with numpy (Debian python3-numpy, make_reference.py) into the build tree.

if(NOT TARGET omnitune_media_audio)
  include(${PROJECT_SOURCE_DIR}/preprocess/media/audio.cmake)
endif()

# Prefer Debian's /usr/bin/python3: a pyenv or venv python3 earlier on PATH usually lacks the
# Debian numpy package. Without numpy the fixture fails with a message saying what to install.
set(_omnitune_numpy_python "")
foreach(_py /usr/bin/python3 python3)
  if(NOT _omnitune_numpy_python)
    execute_process(COMMAND ${_py} -c "import numpy" RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(_rc STREQUAL "0")
      set(_omnitune_numpy_python ${_py})
    endif()
  endif()
endforeach()
if(NOT _omnitune_numpy_python)
  message(WARNING "No python3 with numpy found: media_audio_parity_test will fail until the "
                  "Debian package python3-numpy is installed (scripts/install-deps.sh)")
  set(_omnitune_numpy_python python3)
endif()

set(_omnitune_audio_refs ${CMAKE_CURRENT_BINARY_DIR}/media_audio_refs)
add_test(NAME media_audio_refs
         COMMAND ${_omnitune_numpy_python} ${CMAKE_CURRENT_LIST_DIR}/make_reference.py
                 ${PROJECT_SOURCE_DIR}/tests/fixtures/audio ${_omnitune_audio_refs})
set_tests_properties(media_audio_refs PROPERTIES
  FIXTURES_SETUP media_audio_refs LABELS "unit;media;audio" TIMEOUT 300)

omnitune_add_unit_test(media_audio_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/audio_decode_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/audio_features_test.cpp
  LIBS omnitune_media_audio ${SNDFILE_LIBRARY}
  LABELS "media;audio")
target_include_directories(media_audio_test PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${SNDFILE_INCLUDE_DIR})

omnitune_add_unit_test(media_audio_parity_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/audio_parity_test.cpp
  LIBS omnitune_media_audio ${SNDFILE_LIBRARY}
  LABELS "media;audio")
target_include_directories(media_audio_parity_test PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${SNDFILE_INCLUDE_DIR})
set_tests_properties(media_audio_parity_test PROPERTIES
  FIXTURES_REQUIRED media_audio_refs
  ENVIRONMENT "OMNITUNE_AUDIO_REFS=${_omnitune_audio_refs}")

# Audio through the preprocessing pipeline (Gemma 3n): message and flat rows, dedup, the stored
# features vs the extractor, audio tokens, rejects, resume from work records; on 1 and 2 ranks.
omnitune_add_mpi_test(preprocess_audio_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/preprocess_audio_test.cpp
  LIBS omnitune_preprocess_pipeline omnitune_sample omnitune_media_audio
  NP 1 2
  LABELS "unit;audio;data")
target_include_directories(preprocess_audio_test PRIVATE ${PROJECT_SOURCE_DIR}/tests/unit)
# Its Parquet case reads hf_audio.parquet from the generated Parquet test data (tests/unit/parquet).
set_property(TEST preprocess_audio_test.np1 preprocess_audio_test.np2 APPEND PROPERTY
  ENVIRONMENT "OMNITUNE_PARQUET_TEST_DATA=${CMAKE_CURRENT_BINARY_DIR}/parquet_test_data")
set_property(TEST preprocess_audio_test.np1 preprocess_audio_test.np2 APPEND PROPERTY
  FIXTURES_REQUIRED parquet_test_data)
omnitune_add_mpi_test(spoken_sample_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/spoken_sample_test.cpp LIBS omnitune_preprocess_pipeline omnitune_sample omnitune_media_audio NP 1 LABELS "unit;audio;data")  # make-sample --spoken (espeak-ng)
