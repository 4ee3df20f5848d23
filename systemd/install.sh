#!/usr/bin/env bash
# cardgate's installer, run by `make install` / `make uninstall` (as root) on Raspberry Pi OS or
# Debian 12. Everything goes to fixed places the units name:
#   /opt/cardgate                          a virtual environment with cardgate installed
#   /usr/local/bin/cardgate                the launcher (runs as the service user under root)
#   /etc/cardgate/cardgate.toml            settings: made from firmware-config's default only
#                                          when absent, kept on upgrade and on uninstall
#   /var/lib/cardgate                      data: kept on uninstall unless PURGE=1
#   /usr/local/lib/systemd/system/         cardgate.service, cardgate-console@.service
#   /usr/local/lib/{sysusers,tmpfiles,modules-load}.d/cardgate.conf
#   /etc/udev/rules.d/77-cardgate.rules    (udev 252 reads no /usr/local)
#   /etc/polkit-1/rules.d/50-cardgate.rules
# With DESTDIR the same tree is staged under it and nothing on the system is touched: no user,
# no chown, no systemctl, no udevadm.
#
# Settings (environment, passed by the Makefile):
#   DESTDIR   staging folder ("" or "/": this system)
#   PYTHON    the Python the venv is made from (3.11 or newer; default python3)
#   PACKAGE   what pip installs into the venv (default: this checkout; a wheel works too)
#   PIP_ARGS  extra pip arguments (tests: --no-deps --no-index, to stay offline and fast)
#   CONSOLE   a serial line to enable the technician console on (ttyAMA0, ttyGS0, ...)
#   PURGE=1   uninstall removes /etc/cardgate and /var/lib/cardgate too
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(dirname "$here")
dest=${DESTDIR:-}
[ -z "$dest" ] || dest=$(realpath -m "$dest")  # absolute: a venv records its own path
dest=${dest%/}  # "/" and "" both mean this system
python=${PYTHON:-python3}
package=${PACKAGE:-$src}
read -r -a pip_args <<<"${PIP_ARGS:-}"
console=${CONSOLE:-}
purge=${PURGE:-}

OPT=/opt/cardgate
LAUNCHER=/usr/local/bin/cardgate
UNITDIR=/usr/local/lib/systemd/system
SYSUSERS=/usr/local/lib/sysusers.d/cardgate.conf
TMPFILES=/usr/local/lib/tmpfiles.d/cardgate.conf
MODULES=/usr/local/lib/modules-load.d/cardgate.conf
UDEVRULES=/etc/udev/rules.d/77-cardgate.rules
POLKIT=/etc/polkit-1/rules.d/50-cardgate.rules
CONFDIR=/etc/cardgate
DATADIR=/var/lib/cardgate
UNITS=(cardgate.service cardgate-console@.service)

say() { printf 'cardgate: %s\n' "$*"; }
fail() { printf 'cardgate: %s\n' "$*" >&2; exit 2; }
live() { [ -z "$dest" ]; }
systemd_running() { live && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

put() {  # put MODE SOURCE TARGET: install one file under DESTDIR
  install -D -m "$1" "$2" "$dest$3"
}

check_console_name() {
  # The instance becomes /dev/$console in the unit and a systemctl argument: a bare device name
  # (ttyAMA0, ttyS0, ttyGS0), nothing else.
  [[ -z "$console" || "$console" =~ ^[A-Za-z][A-Za-z0-9]*$ ]] \
    || fail "CONSOLE: not a serial line name like ttyAMA0, ttyS0 or ttyGS0: '$console'"
}

make_venv() {
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || fail "PYTHON: cardgate needs Python 3.11 or newer ($python is older or missing)"
  if [ ! -x "$dest$OPT/bin/python" ] && ! "$python" -m venv "$dest$OPT" 2>/dev/null; then
    # Debian's python3 has no ensurepip until python3-venv is installed: do it on a live
    # install (we are root there), never for a stage.
    rm -rf "$dest$OPT"
    if live && command -v apt-get >/dev/null; then
      say "installing python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    "$python" -m venv "$dest$OPT" \
      || fail "cannot make a virtual environment: install python3-venv (apt-get install python3-venv)"
  fi
  local pip=("$dest$OPT/bin/python" -m pip --quiet --disable-pip-version-check)
  if [ -d "$package" ]; then  # a checkout: build it once, install the wheel twice below
    wheels=$(mktemp -d)
    trap 'rm -rf "$wheels"' EXIT
    "${pip[@]}" wheel --no-deps --wheel-dir "$wheels" "${pip_args[@]}" "$package"
    package=$(echo "$wheels"/cardgate-*.whl)
  fi
  # New and upgraded dependencies; then cardgate itself again, because pip keeps an installed
  # version it thinks is the same (an upgrade from a checkout often has the same version).
  "${pip[@]}" install --upgrade "${pip_args[@]}" "$package"
  "${pip[@]}" install --force-reinstall --no-deps "${pip_args[@]}" "$package"
  if ! live; then
    # A venv records its own path: staged under DESTDIR, its scripts would start
    # "#!$DESTDIR/opt/cardgate/bin/python". Rewrite them to where the tree will live.
    local f
    for f in "$dest$OPT"/bin/*; do
      [ -f "$f" ] && [ ! -L "$f" ] || continue
      if head -c 2 "$f" | grep -q '#!'; then sed -i "1s|^#!$dest/|#!/|" "$f"; fi
      grep -qF "$dest$OPT" "$f" 2>/dev/null && sed -i "s|$dest$OPT|$OPT|g" "$f"
    done
    sed -i "s|$dest$OPT|$OPT|g" "$dest$OPT/pyvenv.cfg"
  fi
}

write_launcher() {
  install -d "$dest$(dirname "$LAUNCHER")"
  cat >"$dest$LAUNCHER" <<'EOF'
#!/bin/sh
# cardgate, as installed by `make install`. Started by root, it runs as the service user: a
# database, a write-ahead log or a backup it creates under /var/lib/cardgate must stay the
# service's, or the appliance could not write them afterwards. (demo and sim make their own
# folders and run as whoever starts them.)
case "${1:-}" in
  demo|sim) ;;
  *)
    if [ "$(id -u)" = 0 ] && [ "${CARDGATE_AS_ROOT:-}" != 1 ]; then
      HOME=/var/lib/cardgate exec setpriv --reuid=cardgate --regid=cardgate --init-groups \
        -- /opt/cardgate/bin/cardgate "$@"
    fi
    ;;
esac
exec /opt/cardgate/bin/cardgate "$@"
EOF
  chmod 0755 "$dest$LAUNCHER"
}

install_files() {
  local unit
  for unit in "${UNITS[@]}"; do put 0644 "$here/$unit" "$UNITDIR/$unit"; done
  put 0644 "$here/cardgate.sysusers" "$SYSUSERS"
  put 0644 "$here/cardgate.tmpfiles" "$TMPFILES"
  put 0644 "$here/cardgate.modules-load" "$MODULES"
  put 0644 "$src/firmware-config/udev/77-cardgate.rules" "$UDEVRULES"
  put 0644 "$here/cardgate.polkit.rules" "$POLKIT"
  # The shipped default, for reference when the kept settings predate new keys.
  put 0644 "$src/firmware-config/cardgate.toml" "$OPT/share/cardgate/cardgate.toml"
}

install_config_and_data() {
  install -d -m 0770 "$dest$CONFDIR"  # modes and owners as in cardgate.tmpfiles
  install -d -m 0750 "$dest$DATADIR"
  local conf="$dest$CONFDIR/cardgate.toml"
  if [ -e "$conf" ]; then
    cmp -s "$conf" "$src/firmware-config/cardgate.toml" \
      || say "kept $CONFDIR/cardgate.toml (the shipped default: $OPT/share/cardgate/cardgate.toml)"
  else
    install -m 0640 "$src/firmware-config/cardgate.toml" "$conf"
  fi
}

create_user() {
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers "$SYSUSERS"
  elif ! getent passwd cardgate >/dev/null; then  # no systemd: the same user, by hand
    useradd --system --user-group --home-dir "$DATADIR" --no-create-home \
      --shell /usr/sbin/nologin --comment "cardgate SMS gateway" cardgate
  fi
  getent group dialout >/dev/null || groupadd --system dialout
  id -nG cardgate | grep -qw dialout || usermod -a -G dialout cardgate
}

activate() {
  create_user
  if command -v systemd-tmpfiles >/dev/null; then
    systemd-tmpfiles --create "$TMPFILES"
  else
    chown cardgate:cardgate "$DATADIR"
    chown root:cardgate "$CONFDIR" "$CONFDIR/cardgate.toml"
  fi
  modprobe -a usbserial cdc_acm 2>/dev/null || true  # now, not only at the next boot
  if [ -S /run/udev/control ] && command -v udevadm >/dev/null; then
    udevadm control --reload
    udevadm trigger --subsystem-match=tty --action=add
  fi
  if systemd_running; then
    systemctl daemon-reload
    systemctl enable cardgate.service
    # restart, not start: an upgrade must replace the code that runs.
    systemctl restart cardgate.service
    [ -z "$console" ] || systemctl enable --now "cardgate-console@$console.service"
    say "installed; \`systemctl status cardgate\` shows it, \`journalctl -u cardgate\` its log"
    say "settings: $CONFDIR/cardgate.toml (http.listen: the API's address; the default is"
    say "loopback only); a first API key: sudo cardgate apikey create --name admin --scopes send,read,admin"
  else
    say "installed; systemd is not running here: start it with \`cardgate run\`"
  fi
}

do_install() {
  live && [ "$(id -u)" != 0 ] && fail "run as root (sudo make install), or stage with DESTDIR="
  check_console_name
  make_venv
  write_launcher
  install_files
  install_config_and_data
  if live; then activate; else say "staged in $dest"; fi
}

do_uninstall() {
  live && [ "$(id -u)" != 0 ] && fail "run as root (sudo make uninstall), or DESTDIR="
  if systemd_running; then
    systemctl stop 'cardgate-console@*.service' cardgate.service 2>/dev/null || true
    systemctl disable cardgate.service 2>/dev/null || true
  fi
  # Enabled console lines are symlinks named after their instance; disable them all.
  rm -f "$dest"/etc/systemd/system/*.wants/cardgate-console@*.service
  local unit
  for unit in "${UNITS[@]}"; do rm -f "$dest$UNITDIR/$unit"; done
  rm -f "$dest$SYSUSERS" "$dest$TMPFILES" "$dest$MODULES" "$dest$UDEVRULES" "$dest$POLKIT" \
    "$dest$LAUNCHER"
  rm -rf "$dest$OPT"
  if systemd_running; then systemctl daemon-reload; fi
  if live && [ -S /run/udev/control ] && command -v udevadm >/dev/null; then
    udevadm control --reload
  fi
  if [ "$purge" = 1 ]; then
    rm -rf "$dest$CONFDIR" "$dest$DATADIR"
    say "removed, with $CONFDIR and $DATADIR (the user cardgate stays: files elsewhere may be its)"
  else
    say "removed; kept $CONFDIR and $DATADIR (PURGE=1 removes them)"
  fi
}

case "${1:-}" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) fail "usage: install.sh install|uninstall (see the comment at its top)" ;;
esac
