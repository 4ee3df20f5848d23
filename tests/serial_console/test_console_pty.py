"""The console on a real pseudo-terminal, as a technician uses it, against a running appliance."""

from __future__ import annotations

import pexpect
import pytest

from tests.serial_console.conftest import Rig, login

pytestmark = pytest.mark.slow


def test_login_and_modems_in_english(rig: Rig) -> None:
    child = rig.console("en")
    child.expect("technician console")
    login(child)
    child.expect(r"Logged in as tech \(technician\)")
    child.expect("tech@cardgate>")
    child.sendline("modems")
    child.expect("port")
    child.expect("ready")
    child.expect("tech@cardgate>")
    print(child.before)
