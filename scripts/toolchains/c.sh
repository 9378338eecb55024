#!/usr/bin/env bash
# Installs the toolchain that builds the C guests (guest-sdk/c and
# examples/wasm/*/c): clang and lld with wasi-libc and the wasm32 compiler
# runtime, a host C compiler for the SDK's native tests, plus wabt and
# binaryen for inspecting modules. Idempotent: installs only what is missing.
set -euo pipefail

. "$(dirname "$0")/../lib/apt.sh"
apt_ensure scripts/toolchains/c.sh clang lld wasi-libc libclang-rt-14-dev-wasm32 libc6-dev wabt binaryen
