#!/usr/bin/env bash
# The test dependencies outside the Python venv, from Debian's packages: Chromium, which tests/test_report.py uses
# to open the HTML run report headless, and espeak-ng, which `wavegen data words` speaks with (tests/test_words.py).
# Does nothing when both are on PATH (WAVEGEN_CHROMIUM may name a Chromium binary); otherwise installs what is
# missing with apt-get as root or through sudo, or stops at once with one line saying what to do.
set -euo pipefail

missing=()
if [ -z "${WAVEGEN_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
    missing+=(chromium)
fi
if ! command -v espeak-ng >/dev/null 2>&1; then
    missing+=(espeak-ng)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

need="the tests need Debian's ${missing[*]} (chromium: or set WAVEGEN_CHROMIUM to a Chromium binary), or run 'make test-fast', which needs neither"
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

echo "install-test-deps: installing Debian's ${missing[*]} for the tests (once)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for cmd in "${missing[@]}"; do
    echo "install-test-deps: $("$cmd" --version 2>/dev/null | head -n 1 || echo "$cmd") installed"
done
