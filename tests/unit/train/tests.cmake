# Training-layer unit tests, include()d from tests/unit/CMakeLists.txt.
omnitune_add_unit_test(peft_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/peft_test.cpp LIBS omnitune_train LABELS train)
omnitune_add_unit_test(flops_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/flops_test.cpp LIBS omnitune_train LABELS train)
omnitune_add_unit_test(lr_schedule_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/lr_schedule_test.cpp LIBS omnitune_train LABELS train)
omnitune_add_unit_test(tfevents_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tfevents_test.cpp LIBS omnitune_train LABELS train)
omnitune_add_unit_test(metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cpp LIBS omnitune_train LABELS train)
