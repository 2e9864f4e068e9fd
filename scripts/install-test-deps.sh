#!/usr/bin/env bash
# Test dependencies outside the Python venv: Debian's `chromium` package, which tests/test_report.py uses to
# open the HTML run report headless. Installs it only when `chromium` is not on PATH already (run as root,
# as on the dev machine and in CI). Safe to run again: it then does nothing.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: chromium is missing and apt-get is not available; install Chromium by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-test-deps: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium

echo "installed: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
