# Tokenizer unit tests, include()d from tests/unit/CMakeLists.txt. The test links LibTorch on
# purpose: it proves the sentencepiece shim works in a process where LibTorch is loaded and running.
# It trains a small model with spm_train (Debian package sentencepiece) while it runs.

find_program(OMNITUNE_SPM_TRAIN_PROGRAM spm_train)
if(OMNITUNE_SPM_TRAIN_PROGRAM)
  set(_omnitune_spm_train ${OMNITUNE_SPM_TRAIN_PROGRAM})
else()
  set(_omnitune_spm_train spm_train)  # the test then fails and says to install it
endif()

omnitune_add_unit_test(tokenizer_sentencepiece_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/sentencepiece_test.cpp
  LIBS omnitune_tokenizer ${TORCH_LIBRARIES}
  LABELS tokenizer)
target_compile_definitions(tokenizer_sentencepiece_test PRIVATE
  OMNITUNE_SPM_TRAIN="${_omnitune_spm_train}")

omnitune_add_unit_test(tokenizer_chat_template_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/chat_template_test.cpp
  LIBS omnitune_tokenizer
  LABELS tokenizer)
