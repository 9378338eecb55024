#!/usr/bin/env bash
# Installs the toolchain that builds the Rust guests (guest-sdk/rust and
# examples/wasm/*/rust): Debian's rustc and cargo with the Rust standard
# library for wasm32, plus wabt and binaryen for inspecting modules.
# Idempotent: installs only what is missing. The build scripts call
# /usr/bin/rustc and /usr/bin/cargo explicitly, so a rustup toolchain earlier
# on PATH (which lacks the wasm32 standard library) does not get in the way.
set -euo pipefail

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
for p in rustc cargo libstd-rust-dev-wasm32 wabt binaryen; do
  have_pkg "$p" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "scripts/toolchains/rust.sh: installing ${missing[*]}"
if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo); fi
# apt's chatter (debconf notices included) is shown only if it fails.
if ! log=$("${SUDO[@]}" apt-get update -qq 2>&1 &&
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" 2>&1); then
  printf '%s\n' "$log" >&2
  exit 1
fi
