#!/usr/bin/env bash
# The HTML monitoring report's test renders the page in headless Chromium (a PNG and the
# DOM). Install Debian's chromium-headless-shell (the headless build alone, smaller than the
# browser) with apt when we can (root, as CI runs), otherwise say exactly what to install.
set -euo pipefail

for browser in chromium-headless-shell chromium; do
  command -v "$browser" >/dev/null 2>&1 && exit 0
done

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "headless Chromium not found: installing chromium-headless-shell with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null ||
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
  for browser in chromium-headless-shell chromium; do
    command -v "$browser" >/dev/null 2>&1 && exit 0
  done
fi

cat >&2 <<'MSG'
Headless Chromium is missing (the HTML report's test renders the page with it). Install it,
then run make test again:
  Debian/Ubuntu: sudo apt-get install chromium-headless-shell   (or chromium)
  Fedora/RHEL:   sudo dnf install chromium-headless
  macOS:         brew install --cask chromium
MSG
exit 1
