#!/usr/bin/env bash
# Installs the toolchain that builds the Rust guests (guest-sdk/rust and
# examples/wasm/*/rust): Debian's rustc and cargo with the Rust standard
# library for wasm32, plus wabt and binaryen for inspecting modules.
# Idempotent: installs only what is missing. The build scripts call
# /usr/bin/rustc and /usr/bin/cargo explicitly, so a rustup toolchain earlier
# on PATH (which lacks the wasm32 standard library) does not get in the way.
set -euo pipefail

. "$(dirname "$0")/../lib/apt.sh"
# lld-14: rustc links wasm32 with rust-lld, a link to it that rustc only suggests.
apt_ensure scripts/toolchains/rust.sh rustc cargo libstd-rust-dev-wasm32 lld-14 wabt binaryen
