#!/usr/bin/env bash
# Command 1 of the README: set everything up, then run the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
exec .venv/bin/pyengine run "$@"
