#!/usr/bin/env bash
# Independent byte oracle (issue 8): tests/oracle/oracle.py, a model of the source ELF that
# shares no code with src/, mounts every fuzz_elf_core corpus input kcorefs accepts and
# compares each PT_LOAD of the vmcore and kcore views byte by byte with the source at the
# same physical (or, for p_paddr -1, virtual) address. Any mismatch fails; so does a corpus
# of which nothing mounts (the oracle would have checked nothing). Bounded: < 60 s.
source "$(dirname "$0")/functions.sh"
shopt -s nullglob
inputs=("$SRCDIR"/tests/fuzz/corpus*/fuzz_elf_core/*)
[ ${#inputs[@]} -gt 0 ] || fail "no fuzz_elf_core corpus under $SRCDIR/tests/fuzz"
work=$TEST_TMP/oracle
mkdir -p "$work"
cleanup_fn "fusermount3 -u '$work/mp' 2>/dev/null"
start=$SECONDS
out=$(with_timeout 120 python3 "$SRCDIR/tests/oracle/oracle.py" "$KCOREFS" "$work" "${inputs[@]}")
rc=$?
echo "$out"
[ $rc -eq 0 ] || fail "the oracle found views whose bytes differ from the source (rc $rc)"
mounted=$(sed -n 's/^oracle: [0-9]* inputs, \([0-9]*\) mounted.*/\1/p' <<<"$out")
[ "${mounted:-0}" -ge 10 ] || fail "only ${mounted:-0} corpus inputs mounted: the oracle checked too little"
[ $((SECONDS - start)) -lt 60 ] || fail "the oracle took $((SECONDS - start)) s (bound: 60 s)"
echo PASS
