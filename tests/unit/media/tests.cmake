# Media (image) unit tests, include()d from tests/unit/CMakeLists.txt. media_image_test needs only
# the libraries; media_pillow_parity_test compares with references that the fixture test
# media_pillow_refs writes at test time with Pillow (Debian python3-pil) into the build tree.

# Prefer Debian's /usr/bin/python3: a pyenv or venv python3 earlier on PATH usually lacks the
# Debian Pillow package. Without Pillow the fixture fails with a message saying what to install.
set(_omnitune_pil_python "")
foreach(_py /usr/bin/python3 python3)
  if(NOT _omnitune_pil_python)
    execute_process(COMMAND ${_py} -c "import PIL" RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(_rc STREQUAL "0")
      set(_omnitune_pil_python ${_py})
    endif()
  endif()
endforeach()
if(NOT _omnitune_pil_python)
  message(WARNING "No python3 with Pillow found: media_pillow_parity_test will fail until the "
                  "Debian package python3-pil is installed (scripts/install-deps.sh)")
  set(_omnitune_pil_python python3)
endif()

set(_omnitune_media_refs ${CMAKE_CURRENT_BINARY_DIR}/media_pillow_refs)
add_test(NAME media_pillow_refs
         COMMAND ${_omnitune_pil_python} ${CMAKE_CURRENT_LIST_DIR}/make_pillow_refs.py
                 ${PROJECT_SOURCE_DIR}/tests/fixtures/images ${_omnitune_media_refs})
set_tests_properties(media_pillow_refs PROPERTIES
  FIXTURES_SETUP media_pillow_refs LABELS "unit;media" TIMEOUT 300)

find_package(ZLIB REQUIRED)  # png_fast_test compresses its crafted PNGs
omnitune_add_unit_test(media_image_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/image_decode_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/exif_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/image_resize_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/image_processor_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/png_fast_test.cpp
  LIBS omnitune_media_image ${TURBOJPEG_LIBRARY} ZLIB::ZLIB
  LABELS media)
target_include_directories(media_image_test PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${TURBOJPEG_INCLUDE_DIR})

omnitune_add_unit_test(media_pillow_parity_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/pillow_parity_test.cpp
  LIBS omnitune_media_image ${TURBOJPEG_LIBRARY} nlohmann_json::nlohmann_json
  LABELS media)
target_include_directories(media_pillow_parity_test PRIVATE ${CMAKE_CURRENT_LIST_DIR} ${TURBOJPEG_INCLUDE_DIR})
set_tests_properties(media_pillow_parity_test PROPERTIES
  FIXTURES_REQUIRED media_pillow_refs
  ENVIRONMENT "OMNITUNE_MEDIA_REFS=${_omnitune_media_refs}")
