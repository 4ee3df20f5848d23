#!/usr/bin/env bash
# System packages the test suite uses beyond Python: umockdev (fake USB ttys and uevents for the
# pyudev hot-plug test), postgresql (a throwaway server for tests/store/test_postgresql.py; about
# 7-13 s to install), libnetsds-kannel-perl (a real Kannel client, NetSDS::Kannel, for
# tests/compat), systemd (systemd-analyze, systemd-sysusers and systemd-tmpfiles, for
# tests/install: the units verified, the user and folders made in a staged root; a container
# image may lack it), chromium and fonts-wqy-microhei (Debian's browser, which Playwright
# drives for tests/web, and a Chinese font so its screenshots show Chinese, not boxes).
# Installed from Debian's packages when we are root and apt-get exists;
# otherwise the tests that need them are skipped with the reason, never faked.
set -u
packages=(umockdev gir1.2-umockdev-1.0 python3-gi postgresql libnetsds-kannel-perl systemd chromium
          fonts-wqy-microhei)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: not root or no apt-get: tests needing ${missing[*]} will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || echo "note: could not install ${missing[*]}; tests needing them will be skipped" >&2
exit 0
