#!/usr/bin/env bash
# Benchmark a hook's cold run four ways (see tests/benches/hook_cold_start.rs), and the
# stand-in's throughput and memory (tests/benches/stand_in_throughput.rs). Installs the
# Node.js and Python SDKs it compares against, builds release binaries, and runs the bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
(cd tests/bench-hooks/node && npm ci --no-audit --no-fund --loglevel=error)
python3 -m pip install --quiet --disable-pip-version-check "boto3==1.43.11"
cargo build --release --workspace --bins
cargo build --profile function -p hello -p pre-traffic -p post-traffic
python3 tests/size/hook_zips.py
cargo bench -p e2e --bench hook_cold_start
cargo bench -p e2e --bench stand_in_throughput
