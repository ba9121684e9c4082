#!/usr/bin/env bash
# Builds the prebuilt addons shipped in the npm package:
#   prebuilds/linux-x64/uringmachine.glibc.node    (this machine's gcc)
#   prebuilds/linux-arm64/uringmachine.glibc.node  (Debian's aarch64 cross gcc)
# node-gyp-build (src/native.ts, and the `install` script) loads the one that
# fits the platform, so `npm install uringmachine` needs no compiler there.
# Each is built by node-gyp from binding.gyp, exactly as a source install
# would build it, in a scratch copy of the sources (the checkout's own
# build/ is left alone), then stripped and checked: the ELF machine, and that
# every undefined symbol is N-API / libuv (resolved by node) or defined by
# that architecture's libc.
# Run by `npm pack` / `npm publish` (the `prepack` script). Needs:
#   apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross   (and Node's headers: set
#   npm_config_nodedir=/usr where they are in /usr/include/node)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
[ -f "$gyp" ] || { echo "prebuild: npm's node-gyp not found at $gyp" >&2; exit 1; }
command -v aarch64-linux-gnu-gcc >/dev/null || {
  echo 'prebuild: aarch64-linux-gnu-gcc missing: apt-get install -y gcc-aarch64-linux-gnu libc6-dev-arm64-cross' >&2
  exit 1
}
echo '#include <errno.h>' | aarch64-linux-gnu-gcc -E -x c - >/dev/null 2>&1 || {
  echo 'prebuild: the aarch64 cross gcc has no libc headers: apt-get install -y libc6-dev-arm64-cross' >&2
  exit 1
}
nodedir=()
if [ -n "${npm_config_nodedir:-}" ]; then nodedir=(--nodedir="$npm_config_nodedir"); fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# build <node arch> <ELF machine as readelf names it> <tool prefix>
build() {
  local arch=$1 machine=$2 prefix=$3
  local dir="$scratch/$arch" out="$root/prebuilds/linux-$arch/uringmachine.glibc.node"
  mkdir -p "$dir" "$(dirname "$out")"
  cp -r "$root/binding.gyp" "$root/native" "$dir/"
  rm -rf "$dir/native/test"
  (
    cd "$dir"
    if [ -n "$prefix" ]; then export CC="${prefix}gcc" CXX="${prefix}g++" LINK="${prefix}gcc" AR="${prefix}ar"; fi
    node "$gyp" rebuild --arch="$arch" "${nodedir[@]}" --loglevel=warn >/dev/null
  )
  "${prefix}strip" --strip-unneeded -o "$out" "$dir/build/Release/um.node"

  local got
  got="$(readelf -h "$out" | sed -n 's/^ *Machine: *//p')"
  [ "$got" = "$machine" ] || { echo "prebuild: $out is '$got', want '$machine'" >&2; exit 1; }
  # Link check: what node does not provide must come from this arch's libc.
  local libc
  libc="$("${prefix}gcc" -print-file-name=libc.so.6)"
  [ -f "$libc" ] || { echo "prebuild: no libc.so.6 for $arch" >&2; exit 1; }
  local defined missing=()
  defined="$("${prefix}nm" -D --defined-only "$libc" | awk '{print $3}' | sed 's/@.*//' | sort -u)"
  while read -r kind sym; do
    sym="${sym%%@*}"
    case "$sym" in napi_* | node_api_* | uv_*) continue ;; esac
    [ "$kind" = w ] && continue   # weak: may stay unresolved
    grep -qx -- "$sym" <<<"$defined" || missing+=("$sym")
  done < <("${prefix}nm" -D --undefined-only "$out")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "prebuild: $out needs symbols nothing provides: ${missing[*]}" >&2
    exit 1
  fi
  local glibc
  glibc="$("${prefix}objdump" -T "$out" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)"
  printf 'prebuild: %s  %s  %s bytes  needs %s\n' "${out#"$root/"}" "$got" "$(stat -c %s "$out")" "$glibc"
}

build x64 'Advanced Micro Devices X86-64' ''
build arm64 'AArch64' aarch64-linux-gnu-
