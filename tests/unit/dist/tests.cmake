omnitune_add_unit_test(dist_unit_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dist_unit_test.cpp LIBS omnitune_comm)
