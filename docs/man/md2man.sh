#!/bin/sh
# md2man.sh IN OUT VERSION: a docs/man or docs/backends page (Markdown, first line
# "# NAME(SECTION)") to a man page with go-md2man, whose title line wants
# "NAME SECTION DATE SOURCE MANUAL".
set -e
in=$1 out=$2 version=$3
title=$(head -n 1 "$in" | sed -E 's/^# *([^( ]+)\(([0-9])\).*/\1 \2/')
{ printf '# %s "" "kcorefs %s" "kcorefs manual"\n' "$title" "$version"; tail -n +2 "$in"; } |
  go-md2man -out "$out"
