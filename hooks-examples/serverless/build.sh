#!/usr/bin/env bash
# Build the three functions as Lambda zips, each under its own file name: Serverless v3 keys
# an artifact in S3 by its file name, so three `bootstrap.zip` would all get one key and
# `serverless deploy` would ship one binary as all three functions.
set -euo pipefail
cd "$(dirname "$0")/../.."
# hello on its own: built together with the hooks, it would get their features (cargo unifies
# features across the packages of one build) and compile the AWS SDK it does not use.
cargo lambda build --profile function --arm64 --output-format zip -p hello
cargo lambda build --profile function --arm64 --output-format zip -p pre-traffic -p post-traffic
for name in hello pre-traffic post-traffic; do
    cp "target/lambda/$name/bootstrap.zip" "target/lambda/$name.zip"
done
