#!/usr/bin/env bash
# npm run test:c: the plain-C checks of the ring layer (native/test/ring_test.c,
# no N-API, no Node), built with AddressSanitizer + UBSan and warnings as
# errors, then run. Extra arguments go to the test program (a test name runs
# only that test).
#
# Exit status: that of ring_test (0 all passed, 1 a check failed), except 77
# ("a check was skipped: its kernel feature is missing"), which is reported
# and turned into 0 unless UM_STRICT=1.
# Env: CC (default gcc), OUT (binary path, default build-c/ring_test).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cc="${CC:-gcc}"
command -v "$cc" >/dev/null || { echo "test-c: $cc not found (apt-get install gcc)" >&2; exit 1; }
out="${OUT:-$root/build-c/ring_test}"
mkdir -p "$(dirname "$out")"
"$cc" -std=gnu11 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
  -fsanitize=address,undefined -fno-sanitize-recover=all -Inative \
  native/test/ring_test.c native/ring.c native/prep.c -o "$out"
set +e
ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}" \
UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$out" "$@"
rc=$?
set -e
if [ "$rc" -eq 77 ]; then
  echo "test-c: some checks were skipped (kernel feature missing)"
  [ "${UM_STRICT:-0}" = 1 ] && exit 77
  exit 0
fi
[ "$rc" -eq 0 ] || exit "$rc"
# native/tls.c without any OpenSSL (weak references): must link, run and
# report the missing functions. Node's headers provide openssl/*.h.
inc=""
for d in /usr/include/node /usr/local/include/node "$(npm config get nodedir 2>/dev/null || true)/include/node"; do
  if [ -f "$d/openssl/ssl.h" ]; then inc="$d"; break; fi
done
if [ -n "$inc" ]; then
  "$cc" -std=gnu11 -Wall -Wextra -Werror -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
    -I"$inc" -Inative native/test/tls_weak_test.c native/tls.c -lpthread -o "$(dirname "$out")/tls_weak_test"
  "$(dirname "$out")/tls_weak_test"
else
  echo "test-c: node's openssl headers not found: tls_weak_test skipped"
fi
