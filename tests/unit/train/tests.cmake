# Training-layer unit tests, include()d from tests/unit/CMakeLists.txt.
omnitune_add_unit_test(peft_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/peft_test.cpp LIBS omnitune_train LABELS train)
omnitune_add_unit_test(schedule_metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/schedule_metrics_test.cpp LIBS omnitune_train LABELS train)
