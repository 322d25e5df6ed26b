# nn-layer unit tests, include()d from tests/unit/CMakeLists.txt. torch_compat_test is built by
# both CI builds (scripts/test.sh: LibTorch 1.13, scripts/check-libtorch2.sh: LibTorch 2.6) and
# proves each sees the feature set src/nn/torch_compat.h claims for it.
omnitune_add_unit_test(torch_compat_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/torch_compat_test.cpp
  LIBS ${TORCH_LIBRARIES} omnitune_core
  LABELS nn)

# Fused CPU kernels vs the unfused ops they replace.
omnitune_add_unit_test(fused_cpu_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fused_cpu_test.cpp
  LIBS omnitune_nn
  LABELS nn)
