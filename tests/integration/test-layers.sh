#!/usr/bin/env bash
# Layers look only down: base → io → mem → kernel → backends → elf → fuse/cli.
# Fails on any #include of a project header from a higher layer, and on any include of
# another component's private header (src/X/... from outside src/X; a backend may use its
# own directory and backends/common/ only): components talk through include/kcorefs/.
source "$(dirname "$0")/functions.sh"
rank() {
  case $1 in
    base) echo 0 ;; io) echo 1 ;; mem) echo 2 ;; kernel) echo 3 ;; backends) echo 4 ;;
    elf) echo 5 ;; fuse|nbdkit) echo 6 ;; cli) echo 7 ;; *) echo -1 ;;
  esac
}
bad=0
checked=0
while IFS= read -r file; do
  rel=${file#"$SRCDIR"/}
  layer=$(echo "$rel" | cut -d/ -f2)
  [ "$(echo "$rel" | cut -d/ -f1)" = include ] && layer=$(echo "$rel" | cut -d/ -f3)
  mine=$(rank "$layer")
  [ "$mine" -ge 0 ] || continue
  while IFS= read -r inc; do
    target=$(echo "$inc" | sed -E 's|^(kcorefs/)?([a-z_]+)/.*|\2|')
    theirs=$(rank "$target")
    checked=$((checked + 1))
    if [ "$theirs" -gt "$mine" ]; then
      echo "upward include: $rel ($layer) includes $inc ($target)"
      bad=1
    fi
    case $inc in kcorefs/*) continue ;; esac
    # A private header: only its own component may include it.
    own=$(echo "$rel" | cut -d/ -f2)
    if [ "$own" = backends ]; then
      comp=$(echo "$rel" | cut -d/ -f3)
      case $inc in backends/common/*|"backends/$comp/"*) ;;
        *) echo "private include across components: $rel includes $inc"; bad=1 ;; esac
    elif [ "$(echo "$rel" | cut -d/ -f1)" = include ] || [ "$target" != "$own" ]; then
      echo "private include across components: $rel includes $inc"
      bad=1
    fi
  done < <(grep -hoE '^#include "[^"]+"' "$file" | sed -E 's/#include "([^"]+)"/\1/' | grep -E '^(kcorefs/|base/|io/|mem/|kernel/|backends/|elf/|fuse/|cli/)')
done < <(find "$SRCDIR/src" "$SRCDIR/include" -name '*.h' -o -name '*.cc')
[ "$checked" -gt 50 ] || fail "only $checked includes checked; the scan is broken"
[ $bad -eq 0 ] || fail "layering violated"
echo "checked $checked includes"
