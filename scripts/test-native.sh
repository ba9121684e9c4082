#!/usr/bin/env bash
# npm run test:native: the native code under AddressSanitizer.
#
#  1. native/test/ring_test.c (the ring layer alone) with ASan + UBSan, through
#     scripts/test-c.sh (leak detection on there: plain C, nothing to excuse).
#  2. The addon compiled with gcc straight into build-asan/um.node
#     (-fsanitize=address,undefined; the normal build/Release/um.node is left
#     alone) and loaded by the package through UM_ADDON (src/native.ts).
#  3. A canary: a tiny addon with a deliberate one-byte heap overflow is loaded
#     under the very same settings and MUST be caught; otherwise a clean run
#     below would prove nothing, and the script fails.
#  4. The compiled test suite (out/test, scripts/run-tests.mjs) against it.
#
# Why this configuration: node itself is not instrumented, and the ASan
# runtime has to be the first library of the process, so libasan is
# LD_PRELOADed into node (V8 and this runtime get along: the whole suite runs
# with it; no valgrind needed, which would also be ~50x slower with V8's JIT).
# detect_leaks=0 for node: V8 and Node keep memory until exit by design, and
# LSan would report those. Every report aborts its process (test file fails).
# ASan reports also go to files (log_path): a test that spawns node children
# and ignores their exit status or swallows their stderr still cannot hide
# one, because any file found in build-asan/logs/ fails the script after the
# run. UBSan ignores log_path in this setup (its runtime is a second library,
# not preloaded), so its reports are caught by the abort and by a scan of the
# suite's output (build-asan/logs/suite.log) for "runtime error:".
#
# Args are passed to node's test runner (e.g. --test-name-pattern=sleep).
# Env: NODE (node binary for the suite, default node), CC (default gcc),
# UM_NATIVE_SUITE=stress to run the stress harness (scripts/run-stress.mjs,
# sized by UM_STRESS_SCALE) against the ASan addon instead of the suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cc="${CC:-gcc}"
node_bin="${NODE:-node}"
die() { echo "test-native: $*" >&2; exit 1; }

command -v "$cc" >/dev/null || die "$cc not found (apt-get install gcc)"
libasan="$("$cc" -print-file-name=libasan.so)"
[ -f "$libasan" ] || die "libasan.so not found by $cc -print-file-name (apt-get install libasan8 or the gcc of your distribution)"

# Node's headers: next to the running node (official tarballs, nvm), npm's
# nodedir when set, or the distribution's.
inc=""
for d in "$(dirname "$(dirname "$("$node_bin" -p process.execPath)")")/include/node" \
         "$(npm config get nodedir 2>/dev/null || true)/include/node" \
         /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ]; then inc="$d"; break; fi
done
[ -n "$inc" ] || die "node headers (node_api.h) not found: set npm's nodedir or install nodejs headers"

echo "test-native: [1/4] ring layer (native/test/ring_test.c) with ASan + UBSan"
bash scripts/test-c.sh

echo "test-native: [2/4] addon with ASan + UBSan -> build-asan/um.node (headers: $inc)"
mkdir -p build-asan
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
# shellcheck disable=SC2086
"$cc" -std=gnu11 -shared -fPIC -g -O1 $san -Wall -Wextra -Werror \
  -Wno-unused-parameter -Wno-missing-field-initializers -I"$inc" -Inative \
  native/ring.c native/prep.c native/js_machine.c native/js_loop.c native/js_helpers.c \
  native/js_constants.c native/tls.c native/js_tls.c native/addon.c -o build-asan/um.node

logs="$root/build-asan/logs"
rm -rf "$logs"
mkdir -p "$logs"
asan_env() {
  env LD_PRELOAD="$libasan" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path=$1/asan" \
    UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$1/ubsan" \
    "${@:2}"
}

echo "test-native: [3/4] canary: a heap overflow must be reported"
canary="$root/build-asan/canary"
mkdir -p "$canary"
rm -f "$canary"/asan.* "$canary"/ubsan.*
cat >"$canary/canary.c" <<'EOF'
/* Written by scripts/test-native.sh: writes one byte past an 8-byte block. */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdlib.h>
static napi_value init(napi_env env, napi_value exports) {
  char *volatile p = malloc(8);
  p[8] = 1;
  napi_value v;
  napi_create_int32(env, p[8], &v);
  free(p);
  return v;
}
NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
EOF
# shellcheck disable=SC2086
"$cc" -shared -fPIC -g -O1 $san -I"$inc" "$canary/canary.c" -o "$canary/canary.node"
set +e
asan_env "$canary" "$node_bin" -e "require('$canary/canary.node')" >/dev/null 2>&1
crc=$?
set -e
if [ "$crc" -eq 0 ] || ! grep -qs "heap-buffer-overflow" "$canary"/asan.*; then
  die "the canary's heap overflow was NOT reported (exit $crc): ASan does not work in this setup, so a clean run would mean nothing"
fi
echo "test-native: canary caught (exit $crc)"

runner=scripts/run-tests.mjs
[ "${UM_NATIVE_SUITE:-}" = stress ] && runner=scripts/run-stress.mjs
echo "test-native: [4/4] $runner against build-asan/um.node"
npm run build:ts >/dev/null
set +e
UM_ADDON="$root/build-asan/um.node" asan_env "$logs" "$node_bin" "$runner" "$@" 2>&1 |
  tee "$logs/suite.log"
rc=${PIPESTATUS[0]}
set -e
if grep -q "runtime error:" "$logs/suite.log"; then
  echo "test-native: UBSan reported (see runtime error: in $logs/suite.log)" >&2
  [ "$rc" -ne 0 ] || rc=1
fi
if compgen -G "$logs/*san.*" >/dev/null; then
  echo "test-native: sanitizer reports (from $logs):" >&2
  for f in "$logs"/*san.*; do
    echo "----- $f" >&2
    cat "$f" >&2
  done
  [ "$rc" -ne 0 ] || rc=1
fi
[ "$rc" -eq 0 ] && echo "test-native: clean"
exit "$rc"
