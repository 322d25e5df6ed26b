# Evaluation-metric unit tests, include()d from tests/unit/CMakeLists.txt.
omnitune_add_unit_test(vqa_metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/vqa_metrics_test.cpp LIBS omnitune_eval LABELS eval)
