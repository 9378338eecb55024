#!/usr/bin/env bash
# Installs the toolchain that builds the C guests (guest-sdk/c and
# examples/wasm/*/c): clang and lld with wasi-libc and the wasm32 compiler
# runtime, a host C compiler for the SDK's native tests, plus wabt and
# binaryen for inspecting modules. Idempotent: installs only what is missing.
set -euo pipefail

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in clang lld wasi-libc libclang-rt-14-dev-wasm32 libc6-dev wabt binaryen; do
  have_pkg "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "scripts/toolchains/c.sh: installing ${missing[*]}"
if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
# apt's chatter (debconf notices included) is shown only if it fails.
if ! log=$("${SUDO[@]}" apt-get update -qq 2>&1 &&
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" 2>&1); then
  printf '%s\n' "$log" >&2
  exit 1
fi
