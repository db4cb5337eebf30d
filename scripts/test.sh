#!/usr/bin/env bash
# The whole test suite, as README.md gives it and CI runs it (.ci/run).
# Installs missing system packages, checks formatting and lints, runs every test, then
# smoke-runs the demo and the benchmarks so no script rots.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Checks that need a tool installed above must not skip quietly here.
SIGIL_REQUIRE_PROMTOOL=1 SIGIL_REQUIRE_MOTO=1 cargo test --workspace --locked
eif/test.sh
kms-policy/test.sh
scripts/test-runbooks.sh
scripts/local-appliance.sh --once >/dev/null
scripts/demo.sh >/dev/null
scripts/bench-bridge.sh --quick >/dev/null
scripts/bench-sign.sh --quick >/dev/null
scripts/bench-boot.sh --quick >/dev/null
scripts/bench-keystore.sh --quick >/dev/null
echo "scripts/test.sh: all checks passed"
