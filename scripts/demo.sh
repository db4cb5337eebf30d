#!/usr/bin/env bash
# README's first command: the parts of the appliance that exist, locally, in simulation.
#   1. scripts/demo-sign.sh   — key-gen ceremony, MPC signing (ECDSA + Ed25519) through the
#                               SignService, signatures verified outside Rust;
#   2. scripts/demo-bridge.sh — parent-agent's ingress and egress bridges over simulated vsock.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/demo-sign.sh
scripts/demo-bridge.sh
