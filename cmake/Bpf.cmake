# Compiles BPF C sources into one object and one bpftool skeleton.
#
#   faultline_bpf_skeleton(NAME <name> SOURCES a.bpf.c b.bpf.c ...)
#
# Each source is compiled on its own; `bpftool gen object` (the libbpf static
# linker) then links them into one object, so that one skeleton holds every
# program. A map or .rodata setting that several sources share is defined
# __weak in a bpf/*.bpf.h header they all include: the linker merges the
# weak definitions of one name into one map (and fails the build if two
# differ), so all families write to one ring buffer (bpf/common.bpf.h).
#
# Produces ${CMAKE_CURRENT_BINARY_DIR}/<name>.skel.h and an INTERFACE
# target <name>_skel whose include directory holds it.

find_program(CLANG_EXECUTABLE NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL_EXECUTABLE NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
execute_process(COMMAND gcc -print-multiarch
                OUTPUT_VARIABLE FAULTLINE_MULTIARCH
                OUTPUT_STRIP_TRAILING_WHITESPACE)

# vmlinux.h: from the running kernel's BTF when there is one, else the
# vendored copy (CO-RE relocates either to the kernel it loads on).
set(FAULTLINE_VMLINUX_DIR ${CMAKE_BINARY_DIR}/vmlinux)
file(MAKE_DIRECTORY ${FAULTLINE_VMLINUX_DIR})
# Generated at configure time (one file for every BPF source).
if(EXISTS /sys/kernel/btf/vmlinux AND NOT FAULTLINE_VENDORED_VMLINUX)
  execute_process(
    COMMAND ${BPFTOOL_EXECUTABLE} btf dump file /sys/kernel/btf/vmlinux format c
    OUTPUT_FILE ${FAULTLINE_VMLINUX_DIR}/vmlinux.h.tmp
    RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "bpftool btf dump /sys/kernel/btf/vmlinux failed")
  endif()
  file(COPY_FILE ${FAULTLINE_VMLINUX_DIR}/vmlinux.h.tmp
       ${FAULTLINE_VMLINUX_DIR}/vmlinux.h ONLY_IF_DIFFERENT)
else()
  message(STATUS "No /sys/kernel/btf/vmlinux: using bpf/vmlinux/vmlinux.h")
  file(COPY_FILE ${CMAKE_SOURCE_DIR}/bpf/vmlinux/vmlinux.h
       ${FAULTLINE_VMLINUX_DIR}/vmlinux.h ONLY_IF_DIFFERENT)
endif()

function(faultline_bpf_skeleton)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES" ${ARGN})
  # The kernel-side headers every family shares (bpf/*.bpf.h).
  file(GLOB bpf_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bpf/*.bpf.h)
  set(objects)
  foreach(src ${ARG_SOURCES})
    get_filename_component(stem ${src} NAME_WE)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/${stem}.bpf.o)
    add_custom_command(
      OUTPUT ${obj}
      COMMAND ${CLANG_EXECUTABLE} -g -O2 -target bpf -D__TARGET_ARCH_x86
              -D__BPF__
              -I${FAULTLINE_VMLINUX_DIR} -I${CMAKE_SOURCE_DIR}/bpf
              -I/usr/include/${FAULTLINE_MULTIARCH}
              -Wall -Wno-unused-function
              -c ${CMAKE_CURRENT_SOURCE_DIR}/${src} -o ${obj}
      DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${src}
              ${CMAKE_SOURCE_DIR}/bpf/faultline.h ${bpf_headers}
              ${FAULTLINE_VMLINUX_DIR}/vmlinux.h
      IMPLICIT_DEPENDS C ${CMAKE_CURRENT_SOURCE_DIR}/${src}
      COMMENT "BPF ${src}")
    list(APPEND objects ${obj})
  endforeach()
  set(linked ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${ARG_NAME}.skel.h)
  add_custom_command(
    OUTPUT ${linked} ${skel}
    COMMAND ${BPFTOOL_EXECUTABLE} gen object ${linked} ${objects}
    COMMAND ${BPFTOOL_EXECUTABLE} gen skeleton ${linked} name ${ARG_NAME}
            > ${skel}
    DEPENDS ${objects}
    COMMENT "Skeleton ${ARG_NAME}.skel.h")
  add_custom_target(${ARG_NAME}_skel_gen DEPENDS ${skel})
  add_library(${ARG_NAME}_skel INTERFACE)
  add_dependencies(${ARG_NAME}_skel ${ARG_NAME}_skel_gen)
  target_include_directories(${ARG_NAME}_skel INTERFACE
                             ${CMAKE_CURRENT_BINARY_DIR} ${CMAKE_SOURCE_DIR}/bpf)
  target_link_libraries(${ARG_NAME}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
