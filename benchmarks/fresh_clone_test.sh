#!/usr/bin/env bash
# Wall time of the README's test command on a fresh clone, environment set-up included.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
git clone --quiet "$repo" "$scratch/course"
cd "$scratch/course"
start=$(date +%s)
make test
echo "fresh clone: make test took $(( $(date +%s) - start )) s, environment set-up included"
