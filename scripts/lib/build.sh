# shellcheck shell=bash
# One way for the scripts to build what they run and to find it.
#
#   build_bins PROFILE -p PKG ...   # PROFILE: release, or dev; sets BIN to the binaries' directory
#                                   # (an absolute path)
#
# Smoke runs (--quick, the demos) use the dev profile (dependencies optimised at opt-level 3).
# Recorded benchmark figures come from release builds.
#
# Under scripts/test.sh (SIGIL_WORKSPACE_BUILT=1) the dev profile was built once for the
# whole workspace, every target, with the feature set `cargo test --workspace` resolves; a
# `cargo build -p X` would resolve features for X alone and recompile every dependency whose
# features differ (tokio's test-util, for one, and all that depends on it). So there the
# same whole-workspace build is asked for again, which cargo finds fresh.
build_bins() {
  local profile=$1
  shift
  local target=${CARGO_TARGET_DIR:-$PWD/target}
  if [[ $profile == release ]]; then
    echo "building the release binaries ($*)" >&2
    cargo build --release --locked -q "$@"
    BIN=$target/release
  elif [[ ${SIGIL_WORKSPACE_BUILT:-} == 1 ]]; then
    cargo build --workspace --all-targets --locked -q
    BIN=$target/debug
  else
    # No -q: on a fresh clone this compiles a few hundred crates (minutes on 2 cores), and
    # cargo's progress shows what it is doing.
    cargo build --locked "$@"
    BIN=$target/debug
  fi
}
