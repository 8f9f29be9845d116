#!/usr/bin/env bash
# Re-pin every dependency (with hashes) after an edit of pyproject.toml's dependencies:
#   requirements.lock       the worker's own (the Docker image installs exactly these)
#   requirements-test.lock  those plus the test and lint tools (`make venv`, hence CI)
# uv resolves in seconds and writes plain pip requirements files, so installing needs only pip.
set -euo pipefail
cd "$(dirname "$0")/.."
UV=${UV:-uv}
command -v "$UV" >/dev/null || { echo "lock.sh: needs uv (pip install uv)" >&2; exit 1; }
common=(--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes)
"$UV" pip compile pyproject.toml "${common[@]}" -o requirements.lock
"$UV" pip compile pyproject.toml --extra test "${common[@]}" -o requirements-test.lock
