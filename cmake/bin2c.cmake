# cmake -DIN=file -DOUT=file.c -DSYM=name -P bin2c.cmake
# Writes a C file defining `const unsigned char SYM[]` and `const size_t SYM_len`
# with the bytes of IN, so a build artefact (the BPF object) is linked into a
# program without an assembler trick or a tool outside CMake.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/bin2c.cmake; do not edit. */\n#include <stddef.h>\n\n")
file(APPEND "${OUT}" "extern const unsigned char ${SYM}[];\nextern const size_t ${SYM}_len;\n")
file(APPEND "${OUT}" "__attribute__((aligned(8))) const unsigned char ${SYM}[] = {\n${body}\n};\n")
file(APPEND "${OUT}" "const size_t ${SYM}_len = ${len};\n")
