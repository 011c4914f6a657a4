# Fuzzers of userspace/config (included from CMakeLists.txt in this folder).
#
# The library's sources are compiled into the fuzzer rather than linked from gk_config, because
# only the fuzzer target gets -fsanitize=fuzzer: linked, the parser would carry no coverage
# instrumentation and libFuzzer could not steer into it.
get_target_property(gk_config_dir gk_config SOURCE_DIR)
get_target_property(gk_config_sources gk_config SOURCES)
get_target_property(gk_config_libs gk_config LINK_LIBRARIES)
list(TRANSFORM gk_config_sources PREPEND "${gk_config_dir}/")

gk_fuzzer(gate_file_fuzzer
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/gate_file_fuzzer.cc ${gk_config_sources}
          CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/gate_file
          LIBS ${gk_config_libs})
