#!/usr/bin/env bash
# Installs the AssemblyScript compiler for the AssemblyScript guests
# (examples/wasm/*/assemblyscript, guest-sdk/assemblyscript): the version
# pinned in tools/npm/package.json, into tools/npm/node_modules, with npm ci.
# Needs node >= 20 and npm; installs them from Debian when missing. Does
# nothing when the pinned version is already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/tools/npm"

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  . "$(dirname "$0")/../lib/apt.sh"
  apt_ensure assemblyscript.sh nodejs npm
fi

want=$(node -p "require('$tools/package.json').devDependencies.assemblyscript")
have=$(node -p "try { require('$tools/node_modules/assemblyscript/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [ "$have" = "$want" ] && [ -x "$tools/node_modules/.bin/asc" ]; then
  exit 0
fi
echo "assemblyscript.sh: installing assemblyscript $want into tools/npm (npm ci)"
(cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
"$tools/node_modules/.bin/asc" --version >/dev/null
