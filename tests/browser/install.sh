#!/usr/bin/env bash
# Installs what the browser tests need, from Debian's packages: headless Chromium and
# chromedriver. Idempotent: does nothing when both are already there. Needs root (or sudo).
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    echo "browser tests: chromium and chromedriver are installed."
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "browser tests: installing chromium needs root; run this script as root." >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium chromium-driver
chromium --version
chromedriver --version
