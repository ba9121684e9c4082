#!/usr/bin/env bash
# Builds every bench/c/*.c into bench/bin/<name>, linked with the project's own
# ring layer (native/ring.c, native/prep.c); bench/c/*.h are shared headers
# (net_common.h for the network programs). Rebuilds only what is out of date.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
command -v gcc >/dev/null || { echo "bench/c/build.sh: gcc not found (apt-get install gcc)" >&2; exit 1; }
mkdir -p "$root/bench/bin"
for src in "$root"/bench/c/*.c; do
  name="$(basename "$src" .c)"
  out="$root/bench/bin/$name"
  if [ ! -x "$out" ] || [ -n "$(find "$src" "$root"/bench/c/*.h "$root/native/ring.c" "$root/native/prep.c" "$root/native/um.h" "$root/native/uring_abi.h" -newer "$out" 2>/dev/null)" ]; then
    gcc -O2 -std=gnu11 -Wall -Wextra -I"$root/native" -o "$out" "$src" "$root/native/ring.c" "$root/native/prep.c"
  fi
done
