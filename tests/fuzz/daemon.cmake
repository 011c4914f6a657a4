# Fuzzers of userspace/daemon (included from CMakeLists.txt in this folder).
gk_fuzzer(control_protocol_fuzzer
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/control_protocol_fuzzer.cc
          CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/control_protocol
          LIBS gk_daemon)
