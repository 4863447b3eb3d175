#!/usr/bin/env bash
# `meson install` installs a man page for every command and every backend of the build,
# and `man` renders each (kcorefs --help points there).
source "$(dirname "$0")/functions.sh"
build=${KCOREFS%/src/cli/kcorefs}
requires which man
DESTDIR=$TEST_TMP/inst meson install -C "$build" --no-rebuild >"$TEST_TMP/install.log" 2>&1 ||
  { cat "$TEST_TMP/install.log"; fail "meson install failed"; }
mandir=$(find "$TEST_TMP/inst" -type d -name man -path '*/share/man' | head -1)
[ -n "$mandir" ] || fail "no share/man installed"
pages="kcorefs kcorefs-mount kcorefs-export kcorefs-info kcorefs-premount"
for b in $("$KCOREFS" backends | awk 'NR > 1 && /^  [a-z]/ {print $1}'); do pages="$pages kcorefs-$b-backend"; done
for p in $pages; do
  out=$(MANPATH=$mandir MANWIDTH=80 man -P cat "$p" 2>&1) || fail "man $p: $out"
  echo "$out" | grep -q "^NAME\|^SYNOPSIS\|^SOURCE" || fail "man $p renders no sections: $(echo "$out" | head -5)"
done
note "rendered: $pages"
echo ok
