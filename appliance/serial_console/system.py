"""The box around the appliance: its service state, starting it, its journal, its network.

Knows: systemd (`systemctl is-active|restart cardgate`, `journalctl -u cardgate`), whether
systemd runs here (/run/systemd/system, as sd_booted() checks), the machine's IP addresses
(`ip -j addr`, else the host name's), and the web console's address from `http.listen`.
Must not know: the appliance's insides or the terminal.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

UNIT = "cardgate"


def has_systemd() -> bool:
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def service_state() -> str | None:
    """`active`, `inactive`, `failed`...; None without systemd."""
    if not has_systemd():
        return None
    done = subprocess.run(["systemctl", "is-active", UNIT], capture_output=True, text=True,
                          timeout=10, check=False)
    return done.stdout.strip() or "unknown"


def restart_service() -> str:
    """Restart (or start) the unit; returns its state after. Raises RuntimeError with
    systemctl's words when it fails."""
    done = subprocess.run(["systemctl", "restart", UNIT], capture_output=True, text=True,
                          timeout=90, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"exit status {done.returncode}")
    return service_state() or "unknown"


def stop_service() -> None:
    done = subprocess.run(["systemctl", "stop", UNIT], capture_output=True, text=True,
                          timeout=90, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or f"exit status {done.returncode}")


def journal(lines: int = 50) -> list[str] | None:
    """The unit's last journal lines; None when there is no journal to read."""
    if shutil.which("journalctl") is None or not has_systemd():
        return None
    done = subprocess.run(["journalctl", "-u", UNIT, "-n", str(lines), "--no-pager", "-q"],
                          capture_output=True, text=True, timeout=20, check=False)
    return done.stdout.splitlines() if done.returncode == 0 else None


@dataclass(frozen=True)
class Address:
    interface: str
    address: str


def addresses() -> list[Address]:
    """Every non-loopback IP address of the machine."""
    found: list[Address] = []
    if shutil.which("ip"):
        done = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True,
                              timeout=10, check=False)
        try:
            for link in json.loads(done.stdout or "[]"):
                for info in link.get("addr_info", []):
                    if info.get("scope") == "host":
                        continue
                    found.append(Address(link.get("ifname", "?"), info.get("local", "?")))
            return found
        except (ValueError, AttributeError):
            found = []
    try:
        _, _, ips = socket.gethostbyname_ex(socket.gethostname())
    except OSError:
        return []
    return [Address("?", ip) for ip in ips if not ip.startswith("127.")]


def web_urls(listen: str, found: list[Address]) -> tuple[list[str], bool]:
    """The web console's URLs for `http.listen`, and whether it is reachable from the LAN."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        return [_url(a.address, port) for a in found], True
    if host.startswith("127.") or host in ("localhost", "::1"):
        return [_url(host, port)], False
    return [_url(host, port)], True


def _url(host: str, port: str) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


__all__ = ["Address", "addresses", "has_systemd", "journal", "restart_service",
           "service_state", "stop_service", "web_urls"]
