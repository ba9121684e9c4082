#!/usr/bin/env bash
# npm run test:native: the whole test suite against an AddressSanitizer build
# of the addon. The addon is compiled with gcc straight into build-asan/ (the
# normal build/Release/um.node is untouched) and loaded through UM_ADDON;
# node itself is not instrumented, so libasan is preloaded. Leak detection is
# off (V8 keeps memory until exit by design); any ASan error aborts the run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
inc=""
for d in "$(npm config get nodedir 2>/dev/null)/include/node" \
         "$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node" \
         /usr/include/node; do
  if [ -f "$d/node_api.h" ]; then inc="$d"; break; fi
done
[ -n "$inc" ] || { echo "test-native: node headers (node_api.h) not found" >&2; exit 1; }
mkdir -p build-asan
gcc -std=gnu11 -shared -fPIC -g -O1 -fsanitize=address -fno-omit-frame-pointer -Wall -Wextra \
  -Wno-unused-parameter -Wno-missing-field-initializers -I"$inc" -Inative \
  native/ring.c native/prep.c native/js_machine.c native/js_loop.c native/js_helpers.c \
  native/js_constants.c native/addon.c -o build-asan/um.node
npm run build:ts >/dev/null
export UM_ADDON="$root/build-asan/um.node"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
node scripts/run-tests.mjs
