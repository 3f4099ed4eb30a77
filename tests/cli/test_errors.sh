#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: bad input gets a precise message and loses nothing: malformed
# lines name file and line and leave the output untouched, --skip-bad counts
# them, usage errors exit 2, corrupt and truncated sketches are named as such.
source "$(dirname "$0")/lib.sh"

printf 'a b\nb c 2 17\n' >good.txt
"$GSS" ingest -q -o s.gss good.txt
cp s.gss before.gss

printf 'a b\n# fine\n\nx y 1.5\n' >bad.txt
expect_status 1 "$GSS" ingest -o s.gss bad.txt
expect_stderr '^gss: error: bad.txt:4: bad weight .1\.5. \(expected an integer\)$'
cmp -s s.gss before.gss || fail "a failed ingest changed the output"
expect_status 1 "$GSS" ingest -a -o s.gss good.txt bad.txt
cmp -s s.gss before.gss || fail "a failed append changed the output"

printf 'a\n' >short.txt
expect_status 1 "$GSS" ingest -o t.gss short.txt
expect_stderr "short.txt:1: expected 'src dst \[weight \[timestamp\]\]', found 1 field"
[ ! -e t.gss ] || fail "output written despite an error"
printf 'a b 1 2 3\n' >long.txt
expect_status 1 "$GSS" ingest -o t.gss long.txt
expect_stderr 'long.txt:1: .*found more than 4 fields'
printf 'a b 99999999999999999999\n' >big.txt
expect_status 1 "$GSS" ingest -o t.gss big.txt
expect_stderr 'big.txt:1: weight .* out of the 64-bit range'
printf 'a b 1 noon\n' >ts.txt
expect_status 1 "$GSS" ingest -o t.gss ts.txt
expect_stderr "ts.txt:1: bad timestamp 'noon'"
printf 'a b 9223372036854775807\na b 1\n' >ovf.txt
expect_status 1 "$GSS" ingest -o t.gss ovf.txt
expect_stderr 'ovf.txt:2: .*overflows'

expect_status 0 "$GSS" ingest --skip-bad -o t.gss bad.txt
expect_stderr 'skipped 1 malformed line'
same "$("$GSS" query t.gss edge a b)" "1"

# CSV with a header, spaces around fields, Windows line ends.
printf 'src,dst,weight\r\n a , b ,3\r\nb,c\r\n' >e.csv
"$GSS" ingest -q -f csv -o c.gss e.csv
same "$("$GSS" query c.gss edge a b)" "3"
same "$("$GSS" query c.gss succ b)" "c"

# Usage errors exit 2.
expect_status 2 "$GSS"
expect_status 2 "$GSS" frobnicate
expect_stderr "unknown command 'frobnicate'"
expect_status 2 "$GSS" ingest good.txt
expect_stderr 'needs -o SKETCH'
expect_status 2 "$GSS" ingest -o x.gss --memory 12Q good.txt
expect_stderr "'12Q' is not a valid size"
expect_status 2 "$GSS" ingest -o x.gss --fp-bits 13 good.txt
expect_status 2 "$GSS" gen --preset nope
expect_status 2 "$GSS" query s.gss
expect_status 2 "$GSS" query s.gss top-out a 0
expect_status 0 "$GSS" ingest --help
expect_status 0 "$GSS" help query

# Missing, foreign, truncated and corrupt sketch files.
expect_status 1 "$GSS" query missing.gss edge a b
expect_stderr 'missing.gss: No such file or directory'
head -c 10000 /dev/zero >zero.gss
expect_status 1 "$GSS" stats zero.gss
expect_stderr 'not a GSS sketch file'
head -c 5000 s.gss >trunc.gss
expect_status 1 "$GSS" stats trunc.gss
expect_stderr 'truncated: the file has 5000 bytes'
cp s.gss corrupt.gss
printf '\x55' | dd of=corrupt.gss bs=1 seek=4200 conv=notrunc status=none
expect_status 1 "$GSS" stats corrupt.gss
expect_stderr 'checksum mismatch in section matrix'
printf '\x55' | dd of=corrupt.gss bs=1 seek=20 conv=notrunc status=none
expect_status 1 "$GSS" stats corrupt.gss
expect_stderr 'corrupt header'
echo PASS
