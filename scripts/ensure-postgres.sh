#!/usr/bin/env bash
# The embedded stack starts a throwaway PostgreSQL cluster: it needs the server binaries
# (initdb, pg_ctl), not just the psql client. Install them with apt when we can (root),
# otherwise say exactly what to install.
set -euo pipefail

have_server() {
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

have_server && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found: installing them with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  have_server && exit 0
fi

cat >&2 <<'MSG'
PostgreSQL server binaries (initdb, pg_ctl) are missing. Install them, then run make again:
  Debian/Ubuntu: sudo apt-get install postgresql
  Fedora/RHEL:   sudo dnf install postgresql-server
  macOS:         brew install postgresql@15
MSG
exit 1
