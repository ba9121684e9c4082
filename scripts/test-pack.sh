#!/usr/bin/env bash
# The package as a consumer gets it: `npm pack`, then `npm install <tarball>`
# into a fresh app with install scripts ON and no toolchain: PATH holds only
# node and npm (no gcc, cc, make, python3), npm_config_nodedir points at a
# folder without Node's headers. The `install` script (node-gyp-build) must
# find the prebuild and not try to compile; then a small program imports the
# package and does a pipe and a file read/write on the ring.
# The only network use is the registry, for the package's one dependency
# (node-gyp-build, pure JS). Last, the fallback: the same tarball without the
# x64 prebuild, installed with the toolchain, builds the addon from source.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "test-pack: FAIL: $*" >&2; exit 1; }

# 1. Pack (prepack builds both prebuilds, prepare the TypeScript).
(cd "$root" && npm pack --pack-destination "$work" --loglevel=warn >/dev/null)
tarball="$(ls "$work"/uringmachine-*.tgz)"
tar -tzf "$tarball" | sed 's|^package/||' | sort >"$work/contents"
for f in prebuilds/linux-x64/uringmachine.glibc.node prebuilds/linux-arm64/uringmachine.glibc.node \
  dist/index.js dist/index.d.ts src/index.ts examples/echo-server.ts docs/API.md LICENSE CHANGELOG.md README.md package.json binding.gyp native/ring.c; do
  grep -qx -- "$f" "$work/contents" || fail "$f missing from the tarball"
done
# Source maps point at their sources: none may ship without them.
if grep -q '\.map$' "$work/contents"; then
  grep -q '^src/' "$work/contents" || fail 'source maps shipped without src/'
fi
if grep -q '^build/' "$work/contents"; then fail 'build/ shipped'; fi
mkdir -p "$work/x" && tar -xzf "$tarball" -C "$work/x" package/prebuilds package/dist
# Internals are stripped from the declarations (stripInternal).
if grep -l '_core' "$work"/x/package/dist/*.d.ts; then fail 'the .d.ts files expose _core'; fi
file "$work/x/package/prebuilds/linux-arm64/uringmachine.glibc.node" | grep -q 'ARM aarch64' || fail 'arm64 prebuild is not AArch64'
file "$work/x/package/prebuilds/linux-x64/uringmachine.glibc.node" | grep -q 'x86-64' || fail 'x64 prebuild is not x86-64'

# 2. A PATH with node, npm and sh (npm runs scripts with sh) only.
bin="$work/bin"
mkdir -p "$bin"
ln -s "$(readlink -f "$(command -v node)")" "$bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$bin/npm"
ln -s "$(readlink -f /bin/sh)" "$bin/sh"
for tool in gcc cc make python3 python node-gyp; do
  if PATH="$bin" command -v "$tool" >/dev/null 2>&1; then fail "$tool is on the bare PATH"; fi
done

# 3. Install into a fresh app, install scripts on.
app="$work/app"
mkdir -p "$app" "$work/noheaders"
cat >"$app/package.json" <<'JSON'
{ "name": "consumer-app", "version": "1.0.0", "private": true, "type": "module" }
JSON
(
  cd "$app"
  env -i HOME="$work/home" PATH="$bin" npm_config_nodedir="$work/noheaders" \
    npm_config_cache="$work/npm-cache" npm_config_ignore_scripts=false \
    npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
    npm install --foreground-scripts "$tarball" >"$work/install.log" 2>&1
) || { cat "$work/install.log" >&2; fail 'npm install of the tarball failed'; }
pkg="$app/node_modules/uringmachine"
[ -d "$pkg/prebuilds" ] || fail 'prebuilds/ not installed'
[ ! -e "$pkg/build" ] || fail 'the install compiled the addon instead of using the prebuild'
grep -q '"install": "node-gyp-build"' "$pkg/package.json" || fail 'the install script is not node-gyp-build'

# 4. Use it.
cat >"$app/main.js" <<'JS'
import { UringMachine, UM, constants } from 'uringmachine';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const m = new UringMachine();
const [r, w] = UM.pipe();
await m.write(w, 'ping');
const buf = Buffer.alloc(16);
const n = await m.read(r, buf);
const path = process.argv[2];
const fd = await m.open(path, constants.O_CREAT | constants.O_RDWR | constants.O_TRUNC, 0o600);
await m.write(fd, 'file contents', undefined, 0);
const back = Buffer.alloc(32);
const k = await m.read(fd, back, undefined, 0, 0);
await m.close(fd);
await m.close(r);
await m.close(w);
m.close();
const loaded = require('node-gyp-build').resolve(new URL('./node_modules/uringmachine', import.meta.url).pathname);
console.log(JSON.stringify({ pipe: buf.subarray(0, n).toString(), file: back.subarray(0, k).toString(), loaded }));
JS
out="$(cd "$app" && env -i PATH="$bin" node main.js "$work/file.txt")" || fail 'the program failed'
echo "test-pack: $out"
node -e '
  const r = JSON.parse(process.argv[1]);
  if (r.pipe !== "ping" || r.file !== "file contents") process.exit(1);
  if (!r.loaded.endsWith("/prebuilds/linux-x64/uringmachine.glibc.node")) process.exit(2);
' "$out" || fail "unexpected result $out"

# 5. The fallback: no prebuild fits (the x64 one taken out of the tarball):
#    the install script builds from source, with the toolchain this time.
if [ -f /usr/include/node/node_api.h ] || [ -n "${npm_config_nodedir:-}" ]; then
  mkdir -p "$work/re"
  tar -xzf "$tarball" -C "$work/re"
  rm -rf "$work/re/package/prebuilds/linux-x64"
  tar -czf "$work/noprebuild.tgz" -C "$work/re" package
  app2="$work/app2"
  mkdir -p "$app2"
  cp "$app/package.json" "$app/main.js" "$app2/"
  (cd "$app2" && npm_config_nodedir="${npm_config_nodedir:-/usr}" npm_config_cache="$work/npm-cache" \
    npm install --foreground-scripts --no-audit --no-fund "$work/noprebuild.tgz" >"$work/install2.log" 2>&1) ||
    { cat "$work/install2.log" >&2; fail 'the source-build fallback failed'; }
  [ -f "$app2/node_modules/uringmachine/build/Release/um.node" ] || fail 'no source build without a fitting prebuild'
  out2="$(cd "$app2" && node main.js "$work/file2.txt")" || fail 'the program failed on the source build'
  node -e 'const r = JSON.parse(process.argv[1]); process.exit(r.pipe === "ping" && r.loaded.endsWith("/build/Release/um.node") ? 0 : 1)' "$out2" ||
    fail "unexpected result $out2"
  echo "test-pack: fallback $out2"
fi
echo 'test-pack: ok'
