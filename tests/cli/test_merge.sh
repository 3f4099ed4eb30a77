#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: a stream split in two, ingested separately and merged (or
# appended), answers exactly as the whole stream ingested at once; merging
# sketches of different parameters is refused; deletions cancel.
source "$(dirname "$0")/lib.sh"

"$GSS" gen --preset email --records 30000 --seed 5 -q >all.txt
head -n 15000 all.txt >a.txt
tail -n +15001 all.txt >b.txt
opts=(--fp-bits 32 --edges 40k)
"$GSS" ingest -q "${opts[@]}" -o all.gss all.txt
"$GSS" ingest -q "${opts[@]}" -o a.gss a.txt
"$GSS" ingest -q "${opts[@]}" -o b.gss b.txt
"$GSS" merge -o m.gss a.gss b.gss
cp a.gss app.gss
"$GSS" ingest -q -a -o app.gss b.txt

awk 'NR <= 1000 {print "edge", $1, $2; print "succ", $1; print "in", $2}' all.txt >q.txt
"$GSS" query all.gss --batch q.txt >want.txt
"$GSS" query m.gss --batch q.txt >got.txt
cmp -s want.txt got.txt || fail "merged sketch answers differently"
"$GSS" query app.gss --batch q.txt >got.txt
cmp -s want.txt got.txt || fail "appended sketch answers differently"

"$GSS" ingest -q --fp-bits 16 --edges 40k -o other.gss a.txt
expect_status 1 "$GSS" merge -o x.gss a.gss other.gss
expect_stderr 'different parameters'
[ ! -e x.gss ] || fail "failed merge wrote output"

# A stream followed by its negation leaves nothing.
awk '{print $1, $2, -$3}' a.txt >neg.txt
"$GSS" ingest -q "${opts[@]}" -o zero.gss a.txt neg.txt
"$GSS" stats --json zero.gss | has '"edges":0,' || fail "deletions did not cancel"
echo PASS
