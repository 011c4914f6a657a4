# Fuzzers of userspace/config (included from CMakeLists.txt in this folder). The libraries carry
# coverage instrumentation in fuzz builds (see the top-level CMakeLists.txt), so linking them is
# enough for libFuzzer to steer into the parser.
gk_fuzzer(gate_file_fuzzer
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/gate_file_fuzzer.cc
          CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/gate_file
          LIBS gk_config)
