# Fuzzers of userspace/analyze (included from CMakeLists.txt in this folder).
gk_fuzzer(unit_loader_fuzzer
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit_loader_fuzzer.cc
          CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/unit_loader
          LIBS gk_analyze)
