# shellcheck shell=bash
# One way for the scripts to build what they run and to find it.
#
#   build_bins PROFILE -p PKG ...   # PROFILE: release, or dev; sets BIN to the binaries' directory
#
# Smoke runs (--quick, the demos) use the dev profile: `cargo test --workspace` has already
# built those binaries (dependencies optimised at opt-level 3), so CI compiles no second
# profile. Recorded benchmark figures come from release builds.
build_bins() {
  local profile=$1
  shift
  local target=${CARGO_TARGET_DIR:-$PWD/target}
  if [[ $profile == release ]]; then
    echo "building the release binaries ($*)" >&2
    cargo build --release --locked -q "$@"
    BIN=$target/release
  else
    cargo build --locked -q "$@"
    BIN=$target/debug
  fi
}
