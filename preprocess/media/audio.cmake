# omnitune_media_audio: audio decoding (libsndfile), resampling (libsamplerate) and the Gemma 3n
# log-mel features (FFTW, double precision: HF's rfft runs in float64 under numpy < 2, see
# audio_features.h) for the LibTorch-free preprocessor. include()d by preprocess/media/CMakeLists.txt
# and by tests/unit/audio/tests.cmake, whichever comes first; users include "media/audio_decode.h"
# and "media/audio_features.h". Debian packages: libsndfile1-dev, libsamplerate0-dev, libfftw3-dev.

if(NOT TARGET omnitune_media_audio)
  # pkg-config only supplies search hints, so everything below is a plain path (no imported target
  # whose visibility would depend on the directory that include()d this file first).
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(OMNITUNE_SNDFILE_PC QUIET sndfile)
  endif()
  find_path(SNDFILE_INCLUDE_DIR sndfile.h HINTS ${OMNITUNE_SNDFILE_PC_INCLUDE_DIRS})
  find_library(SNDFILE_LIBRARY NAMES sndfile HINTS ${OMNITUNE_SNDFILE_PC_LIBRARY_DIRS})
  if(NOT SNDFILE_INCLUDE_DIR OR NOT SNDFILE_LIBRARY)
    message(FATAL_ERROR "libsndfile (sndfile.h, libsndfile) not found: run scripts/install-deps.sh "
                        "(Debian package libsndfile1-dev)")
  endif()

  find_path(SAMPLERATE_INCLUDE_DIR samplerate.h)
  find_library(SAMPLERATE_LIBRARY NAMES samplerate)
  if(NOT SAMPLERATE_INCLUDE_DIR OR NOT SAMPLERATE_LIBRARY)
    message(FATAL_ERROR "libsamplerate (samplerate.h, libsamplerate) not found: run "
                        "scripts/install-deps.sh (Debian package libsamplerate0-dev)")
  endif()

  find_path(FFTW3_INCLUDE_DIR fftw3.h)
  find_library(FFTW3_LIBRARY NAMES fftw3)
  if(NOT FFTW3_INCLUDE_DIR OR NOT FFTW3_LIBRARY)
    message(FATAL_ERROR "FFTW 3 double precision (fftw3.h, libfftw3) not found: run "
                        "scripts/install-deps.sh (Debian package libfftw3-dev)")
  endif()

  add_library(omnitune_media_audio STATIC
    ${CMAKE_CURRENT_LIST_DIR}/audio_decode.cpp
    ${CMAKE_CURRENT_LIST_DIR}/audio_encode.cpp
    ${CMAKE_CURRENT_LIST_DIR}/audio_features.cpp
  )
  target_include_directories(omnitune_media_audio
    PUBLIC ${PROJECT_SOURCE_DIR}/preprocess
    PRIVATE ${SNDFILE_INCLUDE_DIR} ${SAMPLERATE_INCLUDE_DIR} ${FFTW3_INCLUDE_DIR})
  target_link_libraries(omnitune_media_audio
    PUBLIC omnitune_core
    PRIVATE ${SNDFILE_LIBRARY} ${SAMPLERATE_LIBRARY} ${FFTW3_LIBRARY} omnitune_warnings)
  # The float32 pre-emphasis and window steps must round like numpy's (no fused multiply-add).
  target_compile_options(omnitune_media_audio PRIVATE -ffp-contract=off)
endif()
