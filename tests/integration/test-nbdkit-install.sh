#!/usr/bin/env bash
# `meson install` puts nbdkit-kcorefs-plugin.so in nbdkit's plugin directory (pkg-config
# --variable=plugindir nbdkit), so `nbdkit kcorefs ...` finds it, and its man page
# nbdkit-kcorefs-plugin(1) beside the others. The installed plugin loads and serves.
source "$(dirname "$0")/functions.sh"
requires nbdkit --version
requires pkg-config --exists nbdkit
build=${KCOREFS%/src/cli/kcorefs}
plugindir=$(pkg-config --variable=plugindir nbdkit)
[ -n "$plugindir" ] || fail "pkg-config gives no plugindir for nbdkit"
DESTDIR=$TEST_TMP/inst meson install -C "$build" --no-rebuild >"$TEST_TMP/install.log" 2>&1 ||
  { cat "$TEST_TMP/install.log"; fail "meson install failed"; }
so=$TEST_TMP/inst$plugindir/nbdkit-kcorefs-plugin.so
[ -f "$so" ] || fail "no $plugindir/nbdkit-kcorefs-plugin.so installed: $(grep -i nbdkit "$TEST_TMP/install.log")"
# nbdkit resolves `nbdkit kcorefs` to exactly this name in its plugindir.
nbdkit --dump-config | grep -qx "plugindir=$plugindir" || fail "nbdkit's plugindir is not $plugindir: $(nbdkit --dump-config)"
dump=$(nbdkit --dump-plugin "$so" 2>&1) || fail "the installed plugin does not load: $dump"
grep -qx "name=kcorefs" <<<"$dump" || fail "the installed plugin is not named kcorefs: $dump"
grep -q "^kcorefs_views=vmcore, kcore, vmcoreinfo" <<<"$dump" || fail "no views listed: $dump"
grep -qx "has_can_write=1" <<<"$dump" || fail "no can_write callback (read-only export): $dump"
# It serves: a test core's vmcoreinfo view through the installed copy.
"$build/tests/write_test_core" "$TEST_TMP/core" || fail "cannot write the test core"
mount_kcorefs "$TEST_TMP/core" "$TEST_TMP/m"
nbdkit -f -r -U "$TEST_TMP/s" -P "$TEST_TMP/pid" "$so" source="$TEST_TMP/core" view=vmcoreinfo >"$TEST_TMP/log" 2>&1 &
pid=$!
cleanup_fn "kill $pid 2>/dev/null"
for i in $(seq 1 200); do [ -s "$TEST_TMP/pid" ] && break; sleep 0.05; done
with_timeout 30 nbdcopy "nbd+unix:///?socket=$TEST_TMP/s" "$TEST_TMP/out" || fail "nbdcopy from the installed plugin failed: $(cat "$TEST_TMP/log")"
cmp "$TEST_TMP/out" "$TEST_TMP/m/vmcoreinfo" || fail "the installed plugin serves other bytes than the mount"
man=$(find "$TEST_TMP/inst" -path '*/man1/nbdkit-kcorefs-plugin.1' | head -1)
[ -n "$man" ] || fail "no nbdkit-kcorefs-plugin.1 man page installed"
out=$(MANWIDTH=80 man -l -P cat "$man" 2>&1) || fail "man nbdkit-kcorefs-plugin: $out"
grep -q "source=SOURCE" <<<"$out" || fail "the man page does not document source=: $(head -20 <<<"$out")"
echo ok
