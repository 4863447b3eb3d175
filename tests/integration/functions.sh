# Shared helpers for integration and real-kernel test scripts (sourced, bash).
#
# Protocol: a test script exits 0 when it passes and non-zero when it fails. Exit 77
# means "skipped" and is reserved for a missing piece; contrib/test.sh's summary
# (tests/tools/test_summary.py) counts a skip as a failure: tests never pass silently.
#
# Environment set by meson (tests/meson.build, through tests/tools/run_test.sh; the
# defaults work from a meson build in ./build):
#   KCOREFS        path to the kcorefs binary
#   SRCDIR         top of the source tree
#   TEST_TMP       a scratch directory for this script (removed afterwards)

: "${SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${KCOREFS:=$SRCDIR/build/src/cli/kcorefs}"
if [ -z "${TEST_TMP:-}" ]; then
  TEST_TMP=$(mktemp -d /tmp/kcorefs-test.XXXXXX)
  _kcorefs_own_tmp=1
fi
export KCOREFS SRCDIR TEST_TMP

_cleanup_fns=()
# cleanup_fn CMD...: run CMD at exit (last registered runs first), even on failure.
cleanup_fn() { _cleanup_fns+=("$*"); }
_run_cleanups() {
  local rc=$? i
  for ((i = ${#_cleanup_fns[@]} - 1; i >= 0; i--)); do eval "${_cleanup_fns[$i]}" || true; done
  if [ -n "${_kcorefs_own_tmp:-}" ]; then rm -rf "$TEST_TMP"; fi
  exit $rc
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# requires CMD...: the command must run, else the test is skipped (exit 77).
requires() { "$@" >/dev/null 2>&1 || { echo "SKIP: requires $*" >&2; exit 77; }; }

# mount_kcorefs SOURCE MOUNTPOINT [kcorefs mount options...]
# Starts `kcorefs mount -f` in the background, waits until vmcore appears, and registers
# an unmount at exit. Sets KCOREFS_PID and KCOREFS_LOG.
mount_kcorefs() {
  local src=$1 mp=$2
  shift 2
  mkdir -p "$mp"
  KCOREFS_LOG="$TEST_TMP/kcorefs.$(basename "$mp").log"
  "$KCOREFS" mount -f "$@" "$src" "$mp" >"$KCOREFS_LOG" 2>&1 &
  KCOREFS_PID=$!
  cleanup_fn "unmount_kcorefs '$mp' $KCOREFS_PID"
  local i
  for i in $(seq 1 200); do
    if [ -e "$mp/vmcore" ]; then return 0; fi
    if ! process_running "$KCOREFS_PID"; then
      cat "$KCOREFS_LOG" >&2
      fail "kcorefs mount $src exited before the mount appeared"
    fi
    sleep 0.05
  done
  cat "$KCOREFS_LOG" >&2
  fail "kcorefs mount $src: no vmcore after 10 s"
}

unmount_kcorefs() {
  local mp=$1 pid=$2 i
  fusermount3 -u "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
  for i in $(seq 1 100); do process_running "$pid" || return 0; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}

# process_running PID: the process exists and has not exited. An exited process nobody has
# reaped (a zombie, state Z in /proc/PID/stat) has exited: in a container whose PID 1 does
# not reap orphans (podman's default, no init), a detached daemon stays one forever, and
# `kill -0` still succeeds on it.
process_running() {
  local stat state
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so cut at the last ")".
  state=${stat##*) }
  state=${state%% *}
  [ "$state" != Z ] && [ "$state" != X ]
}

# mount_tmpfs DIR: a small tmpfs at DIR (for sparse files past ext4's 16 TiB limit, such as
# /proc/kcore-shaped cores), unmounted at exit after whatever is registered later.
mount_tmpfs() {
  mkdir -p "$1"
  mount -t tmpfs -o size=1g,mode=0700 tmpfs "$1" || fail "cannot mount a tmpfs at $1"
  cleanup_fn "umount '$1' 2>/dev/null || umount -l '$1'"
}

# sparse_dir DIR SIZE: sets SPARSE_DIR to a directory that takes a sparse file of SIZE
# bytes (a kcore-layout core or export is ~100 TiB of mostly holes): DIR itself when its
# file system allows a file that large (XFS, btrfs, tmpfs), else a tmpfs mounted at DIR
# (ext4 stops at 16 TiB). Never /dev/shm: a container's is 64 MB.
sparse_dir() {
  local dir=$1 size=$2
  mkdir -p "$dir"
  if ! truncate -s "$size" "$dir/.probe" 2>/dev/null; then
    rm -f "$dir/.probe"
    mount_tmpfs "$dir"
    truncate -s "$size" "$dir/.probe" || fail "a tmpfs at $dir takes no sparse file of $size bytes"
  fi
  rm -f "$dir/.probe"
  SPARSE_DIR=$dir
}

# A command that must finish within SECONDS, or the test fails (never hangs the suite).
with_timeout() { local t=$1; shift; timeout --kill-after=5 "$t" "$@"; }
