#!/usr/bin/env bash
# actionlint checks every `run:` script with shellcheck when it is on PATH (and silently skips
# that check when it is not). Install it with apt when we can (root, as CI runs), otherwise
# say exactly what to install.
set -euo pipefail

command -v shellcheck >/dev/null 2>&1 && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "shellcheck not found: installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends shellcheck >/dev/null
  command -v shellcheck >/dev/null 2>&1 && exit 0
fi

cat >&2 <<'MSG'
shellcheck is missing (actionlint uses it on the workflows' scripts). Install it, then run
make lint again:
  Debian/Ubuntu: sudo apt-get install shellcheck
  Fedora/RHEL:   sudo dnf install ShellCheck
  macOS:         brew install shellcheck
MSG
exit 1
