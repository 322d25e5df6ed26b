omnitune_add_unit_test(shard_format_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/shard_format_test.cpp LIBS omnitune_data LABELS data)
omnitune_add_unit_test(loader_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/loader_test.cpp LIBS omnitune_loader LABELS data)
