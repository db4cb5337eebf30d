#!/usr/bin/env bash
# The whole test suite, as README.md gives it and CI runs it (.ci/run).
# Installs missing system packages, checks formatting and lints, runs every test, then
# smoke-runs the local appliance, the demo and the benchmarks so no script rots. Every stage
# is timed; the table is printed at the end (scripts/lib/stages.sh).
#
# One build per profile: clippy checks; one dev-profile build of every target of the
# workspace (one feature resolution, the one `cargo test --workspace` uses), which the tests
# and every script after them (the appliance, the demos, the --quick benchmarks) reuse
# (SIGIL_WORKSPACE_BUILT, scripts/lib/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/stages.sh
source scripts/lib/stages.sh
trap 'stages_report scripts/test.sh' EXIT

stage "install dependencies" scripts/install-deps.sh
stage "cargo fmt --check" cargo fmt --all -- --check
stage "module import cycles" scripts/check-module-cycles.py
stage "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
# Checks that need a tool installed above must not skip quietly here.
stage "cargo build (dev, all targets)" cargo build --workspace --all-targets --locked
export SIGIL_WORKSPACE_BUILT=1
stage "cargo test" env SIGIL_REQUIRE_PROMTOOL=1 SIGIL_REQUIRE_MOTO=1 cargo test --workspace --locked
stage "eif/test.sh" eif/test.sh
stage "kms-policy/test.sh" kms-policy/test.sh
stage "scripts/test-runbooks.sh" scripts/test-runbooks.sh
stage "local appliance (--once)" scripts/local-appliance.sh --once >/dev/null
stage "demo" scripts/demo.sh >/dev/null
stage "bench-bridge --quick" scripts/bench-bridge.sh --quick >/dev/null
stage "bench-sign --quick" scripts/bench-sign.sh --quick >/dev/null
stage "bench-boot --quick" scripts/bench-boot.sh --quick >/dev/null
stage "bench-keystore --quick" scripts/bench-keystore.sh --quick >/dev/null
echo "scripts/test.sh: all checks passed"
