#!/usr/bin/env bash
# Installs the calendar clients that tests/models/test_invite_clients.py reads duly's
# invites with, skipping whatever is already there (safe to run again):
#   - ical.js, the parser Thunderbird uses: npm, into tests/clients/node_modules, at the
#     versions pinned in package-lock.json (npm ci);
#   - libical, the library Evolution uses: its GObject bindings for the system Python
#     (Debian packages gir1.2-ical-3.0 and python3-gi).
# Needs root, or sudo, only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")"
SYSTEM_PYTHON="${DULY_SYSTEM_PYTHON:-/usr/bin/python3}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    echo "install.sh: needs root to run: $*" >&2
    exit 1
  fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=yes
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# libical through GObject introspection, for the system Python
has_libical() {
  "$SYSTEM_PYTHON" -c 'import gi; gi.require_version("ICalGLib", "3.0"); from gi.repository import ICalGLib' \
    >/dev/null 2>&1
}
if has_libical; then
  echo "libical: present"
else
  apt_install gir1.2-ical-3.0 python3-gi
  has_libical || { echo "install.sh: libical bindings still missing for $SYSTEM_PYTHON" >&2; exit 1; }
  echo "libical: installed"
fi

# ical.js from the npm registry, at the locked version
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
wanted="$(node -p 'require("./package-lock.json").packages["node_modules/ical.js"].version')"
have="$(node -p 'try { require("./node_modules/ical.js/package.json").version } catch { "" }')"
if [ "$have" = "$wanted" ]; then
  echo "ical.js $have: present"
else
  npm ci --no-audit --no-fund --loglevel=error
  echo "ical.js $wanted: installed"
fi
