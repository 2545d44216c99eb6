#!/usr/bin/env bash
# The project's whole test command: formatting, lints with warnings denied, every test.
# README.md names this script; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
