#!/usr/bin/env bash
# Headless Chromium for the report rendering test (tests/integration/test_report_renders.py).
# Idempotent: does nothing when `chromium` is on PATH; otherwise installs Debian's package.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "[chromium] ERROR: chromium not found and no apt-get: install Chromium so that \`chromium\` is on PATH" >&2
  exit 1
}
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "[chromium] ERROR: not root and no sudo to install chromium" >&2; exit 1; }
  SUDO="sudo"
fi
echo "[chromium] installing Debian's chromium package (headless report test) ..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1 || { echo "[chromium] ERROR: apt-get installed chromium but it is not on PATH" >&2; exit 1; }
echo "[chromium] $(chromium --version 2>/dev/null || echo installed)"
