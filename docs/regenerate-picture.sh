#!/usr/bin/env bash
# Regenerate docs/rollback-rehearsal.png, the README's picture of the rollback rehearsal: a
# bug only real traffic sees, rolled back by the errors alarms mid-canary. It runs at x5 (the
# README's command runs at the default x60) so that each per-version bucket, one real second,
# is five seconds of the deployment's clock: about a dozen points across the canary.
set -euo pipefail
cd "$(dirname "$0")/.."
chromium="${CHROMIUM:-chromium}"
cargo build --quiet --workspace --bins
mkdir -p target/picture
status=0
target/debug/codedeploy-local deploy --template template.yaml --bin-dir target/debug \
    --target-env HELLO_FAULT=error-unmarked --traffic 20 --time-scale 5 \
    --report target/picture/readme.html || status=$?
if [ "$status" -ne 1 ]; then
    echo "expected the rehearsal to be rolled back (exit 1), it exited $status" >&2
    exit 1
fi
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --hide-scrollbars --window-size=1040,740 \
    --screenshot="$PWD/docs/rollback-rehearsal.png" "file://$PWD/target/picture/readme.html" 2>/dev/null
echo "docs/rollback-rehearsal.png from target/picture/readme.html"
