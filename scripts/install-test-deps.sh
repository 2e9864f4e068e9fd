#!/usr/bin/env bash
# The one test dependency outside the Python venv: Chromium, which tests/test_report.py uses to open the HTML
# run report headless. Does nothing when `chromium` is on PATH (or WAVEGEN_CHROMIUM names a binary); otherwise
# installs Debian's package with apt-get as root or through sudo, or stops at once with one line saying what to do.
set -euo pipefail

if [ -n "${WAVEGEN_CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
    exit 0
fi

need="the report tests need Chromium: install Debian's 'chromium' package (or set WAVEGEN_CHROMIUM to a Chromium binary), or run 'make test-fast', which does not need it"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-test-deps: not root and no sudo; $need" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: no apt-get here; $need" >&2
    exit 1
fi

echo "install-test-deps: installing Debian's chromium for the report tests (once)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
echo "install-test-deps: $(chromium --version 2>/dev/null || echo chromium) installed"
