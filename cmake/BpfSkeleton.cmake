# Builds a BPF object with clang and turns it into a libbpf skeleton header, exposed as an
# INTERFACE library: linking it embeds the BPF code in the binary. The idea follows
# libbpf-bootstrap's FindBpfObject.cmake, written for the Debian 12 toolchain.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

# Debian keeps asm/types.h under the multiarch directory, which clang -target bpf does not search.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                OUTPUT_VARIABLE BPF_MULTIARCH OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT BPF_MULTIARCH)
  set(BPF_MULTIARCH "${CMAKE_SYSTEM_PROCESSOR}-linux-gnu")
endif()
set(BPF_MULTIARCH_INCLUDE "/usr/include/${BPF_MULTIARCH}")

# add_bpf_skeleton(TARGET NAME SOURCE file.bpf.c [DEPENDS headers...])
# Produces target TARGET whose include directory holds NAME.skel.h.
function(add_bpf_skeleton target)
  cmake_parse_arguments(ARG "" "NAME;SOURCE" "DEPENDS" ${ARGN})
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${target}")
  set(obj "${out_dir}/${ARG_NAME}.bpf.o")
  set(skel "${out_dir}/${ARG_NAME}.skel.h")
  get_filename_component(src "${ARG_SOURCE}" ABSOLUTE)
  get_filename_component(src_dir "${src}" DIRECTORY)
  add_custom_command(
    OUTPUT "${obj}"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${out_dir}"
    COMMAND ${BPF_CLANG} -target bpf -O2 -g -Wall -Werror
            -D__TARGET_ARCH_${CMAKE_SYSTEM_PROCESSOR}
            -I${src_dir} -I${BPF_MULTIARCH_INCLUDE}
            -c "${src}" -o "${obj}"
    DEPENDS "${src}" ${ARG_DEPENDS}
    COMMENT "BPF ${ARG_NAME}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT "${skel}"
    COMMAND ${BPFTOOL} gen skeleton "${obj}" name "${ARG_NAME}" > "${skel}"
    DEPENDS "${obj}"
    COMMENT "BPF skeleton ${ARG_NAME}.skel.h"
    VERBATIM)
  add_custom_target(${target}_gen DEPENDS "${skel}")
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE "${out_dir}" "${src_dir}")
  target_link_libraries(${target} INTERFACE PkgConfig::LIBBPF)
endfunction()
