#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Description: ingest a generated stream with 32-bit fingerprints (no code
# collisions at this size), then check every query kind, single and batch,
# against answers computed with awk from the stream itself.
source "$(dirname "$0")/lib.sh"

"$GSS" gen --preset lkml --records 20000 --seed 3 -q >s.txt
"$GSS" ingest -q --fp-bits 32 --edges 10k -o s.gss s.txt

# Truth: weights per edge, out/in sums and successor sets.
awk '{w[$1" "$2]+=$3} END {for (e in w) print e, w[e]}' s.txt | sort >truth.txt
read -r src dst wt < <(sort -k3,3nr truth.txt | head -1)
same "$("$GSS" query s.gss edge "$src" "$dst")" "$wt"
same "$("$GSS" query s.gss edge no-such-node "$dst")" "0"
same "$("$GSS" query s.gss out "$src")" "$(awk -v s="$src" '$1==s {t+=$3} END {print t+0}' truth.txt)"
same "$("$GSS" query s.gss in "$dst")" "$(awk -v d="$dst" '$2==d {t+=$3} END {print t+0}' truth.txt)"
same "$("$GSS" query s.gss outdeg "$src")" "$(awk -v s="$src" '$1==s' truth.txt | wc -l)"
same "$("$GSS" query s.gss succ "$src")" "$(awk -v s="$src" '$1==s {print $2}' truth.txt | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
same "$("$GSS" query s.gss pred "$dst")" "$(awk -v d="$dst" '$2==d {print $1}' truth.txt | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')"
same "$("$GSS" query s.gss reach "$src" "$dst")" "yes"
same "$("$GSS" query s.gss reach "$src" no-such-node)" "no"
same "$("$GSS" query s.gss subgraph "$src" "$dst")" "$(awk -v s="$src" -v d="$dst" '($1==s||$1==d)&&($2==s||$2==d) {t+=$3} END {print t+0}' truth.txt)"
top=$("$GSS" query s.gss top-out "$src" 3)
same "${top%% *}" "$(awk -v s="$src" '$1==s {print $3, $2}' truth.txt | sort -k1,1nr -k2,2 | head -1 | awk '{print $2"="$1}')"

# Batch: one answer a line, aligned with the queries, errors in place.
printf 'edge %s %s\n\n# a comment\nbogus query\nout %s\n' "$src" "$dst" "$src" >q.txt
expect_status 1 "$GSS" query s.gss --batch q.txt
same "$(sed -n 1p out.txt)" "$wt"
same "$(sed -n 2p out.txt)" ""
same "$(sed -n 3p out.txt)" ""
case "$(sed -n 4p out.txt)" in error:*) ;; *) fail "line 4 should be an error" ;; esac
same "$(sed -n 5p out.txt)" "$("$GSS" query s.gss out "$src")"
expect_stderr 'q.txt:4: unknown query'
same "$(printf 'edge %s %s\n' "$src" "$dst" | "$GSS" query s.gss --batch -)" "$wt"

# Hashes when asked, and for sketches without an ID table.
"$GSS" query s.gss --hashes succ "$src" | has -E '^#[0-9]+( #[0-9]+)*$' || fail "--hashes"
"$GSS" ingest -q --no-ids --fp-bits 32 --edges 10k -o noids.gss s.txt
"$GSS" query noids.gss succ "$src" | has -E '^#[0-9]+' || fail "codes without IDs"
same "$("$GSS" query noids.gss edge "$src" "$dst")" "$wt"

# Eval scores the sketch against exact answers and fails on any violation.
"$GSS" eval --fp-bits 32 --edges 10k --reps 1 --json s.txt >eval.json
grep -Eq '"edge_are": 0[,}]' eval.json || fail "eval: 32-bit fingerprints should be exact"
grep -Eq '"violations": 0[,}]' eval.json || fail "eval: violations"
"$GSS" eval --preset lkml --records 5k --reps 1 --tcm | has '^lkml .*TCM' || fail "eval --tcm"

# Stats, text and JSON.
"$GSS" stats s.gss | has '^edges ' || fail "stats text"
"$GSS" stats --json s.gss | has -E '^\{"file":"s.gss",.*"edges":[0-9]+,.*\}$' || fail "stats json"
echo PASS
