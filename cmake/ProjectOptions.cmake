# Warnings, sanitizers, unit tests and fuzz targets for every first-party host
# target. Included from the top CMakeLists.txt after project().
option(PROJ_WERROR "Treat warnings as errors" OFF)
option(PROJ_FUZZ "Build libFuzzer targets (clang only)" OFF)
option(PROJ_BENCH "Build the benchmarks in bench/ (never part of ctest)" OFF)
set(PROJ_SANITIZE "" CACHE STRING
    "Comma list passed to -fsanitize= (e.g. address,undefined | thread)")

if(PROJ_FUZZ AND NOT CMAKE_C_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "PROJ_FUZZ needs clang (libFuzzer); use the 'fuzz' preset")
endif()

find_package(PkgConfig REQUIRED)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
find_package(Threads REQUIRED)

add_library(proj_flags INTERFACE)
target_compile_features(proj_flags INTERFACE c_std_17)
target_compile_definitions(proj_flags INTERFACE _GNU_SOURCE)
target_compile_options(proj_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -Wold-style-definition -Wformat=2 -Wcast-qual -Wpointer-arith -Wwrite-strings
  -Wundef -Wvla -Wimplicit-fallthrough -Wnull-dereference -fno-common
  $<$<BOOL:${PROJ_WERROR}>:-Werror>)
if(CMAKE_BUILD_TYPE MATCHES "Rel")
  # Hardening for what we ship; the sanitizer builds have their own checks.
  target_compile_options(proj_flags INTERFACE -D_FORTIFY_SOURCE=2 -fstack-protector-strong)
  target_link_options(proj_flags INTERFACE -Wl,-z,relro,-z,now)
endif()
if(PROJ_FUZZ)
  # Coverage for libFuzzer in every first-party object, not just the harness.
  target_compile_options(proj_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()
if(PROJ_SANITIZE)
  target_compile_options(proj_flags INTERFACE -fsanitize=${PROJ_SANITIZE}
                         -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(proj_flags INTERFACE -fsanitize=${PROJ_SANITIZE})
endif()

# add_unit_test(<name> SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s])
# A test that exits 77 is reported as skipped (liburing, kselftest).
function(add_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE proj_flags PkgConfig::CMOCKA ${T_LIBS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS "unit;${T_LABELS}")
  if(T_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
  endif()
endfunction()

# add_fuzz_target(<name> SOURCES ... LIBS ... [CORPUS <dir>])
# clang + PROJ_FUZZ: a real libFuzzer binary. Otherwise the same entry point is
# linked to tests/fuzz/replay_main.c, so every build re-runs the saved corpus as
# the ctest test <name>_replay (label fuzz-regress).
function(add_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS" "SOURCES;LIBS" ${ARGN})
  if(PROJ_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${name} ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
  endif()
  target_link_libraries(${name} PRIVATE proj_flags ${F_LIBS})
  set(seeds "")
  if(F_CORPUS)
    file(GLOB seeds LIST_DIRECTORIES false CONFIGURE_DEPENDS "${F_CORPUS}/*")
  endif()
  if(PROJ_FUZZ AND NOT seeds)
    set(seeds "-runs=0")  # libFuzzer with no inputs would fuzz forever
  endif()
  if(PROJ_FUZZ)
    add_test(NAME ${name}_replay COMMAND ${name} -runs=0 ${seeds})
  else()
    add_test(NAME ${name}_replay COMMAND ${name} ${seeds})
  endif()
  set_tests_properties(${name}_replay PROPERTIES LABELS "fuzz-regress")
endfunction()
