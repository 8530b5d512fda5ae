#!/usr/bin/env bash
# Fails when the tracked tree reaches TREE_SIZE_LIMIT bytes (default 40 MiB)
# and then names its biggest files.
#
# Why: a GPU machine lent to a session is sent the project's working tree,
# every tracked file, and refuses more than 64 MiB in all, carried build
# outputs included. 40 MiB of tracked files leaves room for those.
#
# What counts is what would be sent: each tracked file's size in the
# working tree (a fresh clone's are the blobs' sizes), a symlink as the
# link (its target's name), not what it points to. Tracked files missing
# from the working tree count nothing. Untracked files git does not ignore
# are sent too: they are reported, not counted, since a fresh clone has
# none.
#
#   scripts/check-tree-size.sh             # the check (make tree-size-check)
#   scripts/check-tree-size.sh --self-test # the check against made-up trees
set -euo pipefail

limit=${TREE_SIZE_LIMIT:-$((40 * 1024 * 1024))}
top=15

# sizes LSFILES_ARGS...: "bytes<TAB>path" of each listed file that exists,
# symlinks as links.
sizes() {
  git ls-files -z "$@" | while IFS= read -r -d '' f; do
    if [ -L "$f" ] || [ -f "$f" ]; then
      printf '%s\t%s\n' "$(stat -c %s -- "$f")" "$f"
    fi
  done
}

mib() { awk -v b="$1" 'BEGIN { printf "%.2f MiB", b / 1048576 }'; }

check() {
  local list total n extra
  list=$(sizes)
  total=$(printf '%s\n' "$list" | awk -F'\t' '{ s += $1 } END { print s + 0 }')
  n=$(printf '%s\n' "$list" | grep -c . || true)
  extra=$(sizes --others --exclude-standard | awk -F'\t' '{ s += $1; n++ } END { if (n) printf "%d files, %d bytes", n, s }')
  if [ -n "$extra" ]; then
    echo "note: untracked files git does not ignore ($extra) would be sent to a device too; not counted here"
  fi
  if [ "$total" -ge "$limit" ]; then
    echo "FAIL: the tracked tree is $(mib "$total") in $n files, the limit is $(mib "$limit") (TREE_SIZE_LIMIT=$limit)"
    echo "its $top biggest files:"
    printf '%s\n' "$list" | sort -t$'\t' -k1,1nr | head -n "$top" |
      awk -F'\t' '{ printf "  %10d  %s\n", $1, $2 }'
    echo "shrink or drop some (see docs/development.md, 'Test fixtures'), or keep them out of git"
    return 1
  fi
  echo "ok: the tracked tree is $(mib "$total") in $n files (limit $(mib "$limit"))"
}

# self_test runs the check in throwaway repositories: under the limit it
# passes; over it, it fails and names the biggest file first; a symlink
# to a big file counts as its link, and an untracked file not at all.
self_test() {
  local tmp out rc
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' RETURN
  git -C "$tmp" init -q
  head -c 3000 /dev/zero >"$tmp/big.bin"
  head -c 100 /dev/zero >"$tmp/small.txt"
  ln -s big.bin "$tmp/link"
  git -C "$tmp" add big.bin small.txt link
  head -c 100000 /dev/zero >"$tmp/untracked.bin"
  fail() { echo "self-test FAILED: $1"; printf '%s\n' "$out"; exit 1; }

  out=$(cd "$tmp" && TREE_SIZE_LIMIT=3200 "$self" 2>&1) || fail "3107 bytes under a 3200-byte limit: want success"
  grep -q "3 files" <<<"$out" || fail "want 3 files counted (the symlink as its 7-byte link)"
  grep -q "untracked" <<<"$out" || fail "want the untracked file reported"

  rc=0
  out=$(cd "$tmp" && TREE_SIZE_LIMIT=3000 "$self" 2>&1) || rc=$?
  [ "$rc" -eq 1 ] || fail "3107 bytes over a 3000-byte limit: want exit 1, got $rc"
  grep -A1 "biggest files" <<<"$out" | tail -n 1 | grep -q "3000  big.bin" ||
    fail "want big.bin named first among the biggest files"
  grep -q "      7  link" <<<"$out" || fail "want the symlink counted as its 7-byte link"
  echo "self-test ok"
}

self=$(readlink -f "$0")
if [ "${1:-}" = "--self-test" ]; then
  self_test
  exit 0
fi
cd "$(git rev-parse --show-toplevel)"
check
