"""The SIM side of one modem: who the modem and its SIM are, and unlocking the SIM with its PIN.

Knows: TS 27.007 identity (+CGMI/+CGMM/+CGMR/+CGSN §5, +CIMI §5.6, +CNUM §7.1, +COPS §7.3),
PIN handling (+CPIN §8.3, the +CME ERROR codes of §9.2.1 that describe a SIM), the ICCID
commands a profile lists, and the rule that a configured PIN is sent once and never retried
(three wrong PINs block the SIM, TS 31.102).
Must not know: the serial port, sending or receiving SMS, or the modem's life beyond what a
+CPIN answer means for it. `SimCardMixin` is part of `appliance.modem.driver.Modem`: it uses
the driver's command helpers and its `profile`, `identity` and `state_reason`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from appliance.at import AtCommandFailed
from appliance.modem import identity as parse
from appliance.modem.contract import ModemIdentity, SimIdentity
from appliance.modem.profile import ModemProfile
from appliance.modem.state import ModemState

# TS 27.007 §9.2.1 +CME ERROR codes the driver acts on.
CME_SIM_NOT_INSERTED = 10
CME_SIM_PIN_REQUIRED = 11
CME_SIM_PUK_REQUIRED = 12
CME_SIM_FAILURE = 13
CME_SIM_BUSY = 14
CME_INCORRECT_PASSWORD = 16


class SimCardMixin:
    """Identity and SIM unlocking for `Modem` (see the module docstring)."""

    profile: ModemProfile
    identity: ModemIdentity
    state_reason: str
    _pin: str
    _pin_refused: bool

    # Provided by Modem (declared for type checkers only: a stub here would
    # shadow the real method for a class later in the MRO).
    if TYPE_CHECKING:
        def _command(self, cmd: str, **kwargs: Any) -> Awaitable[Any]: ...
        def _lines(self, cmd: str, **kwargs: Any) -> Awaitable[list[str]]: ...
        def _try_lines(
            self, cmd: str, **kwargs: Any
        ) -> Awaitable[list[str] | None]: ...

    async def _read_modem_identity(self) -> None:
        ident = self.identity
        ident.manufacturer = parse.info_value(await self._try_lines("AT+CGMI") or [])
        ident.model = parse.info_value(await self._try_lines("AT+CGMM") or [])
        ident.revision = parse.info_value(await self._try_lines("AT+CGMR") or [])
        ident.imei = parse.parse_imei(await self._try_lines("AT+CGSN") or [])

    async def _cpin(self) -> tuple[str, int | None]:
        """+CPIN? (SIM busy already waited out): (code text, cme error or None)."""
        try:
            lines = await self._lines("AT+CPIN?", response_prefix="+CPIN")
            return parse.parse_cpin(lines), None
        except AtCommandFailed as exc:
            return "", exc.cme_error

    def _sim_state(self, code: str, cme: int | None) -> ModemState | None:
        """The state a +CPIN answer means; None for "SIM PIN" (the caller decides)."""
        if code == "READY":
            return ModemState.READY
        if cme == CME_SIM_NOT_INSERTED or "NOT INSERTED" in code or "NO SIM" in code:
            self.state_reason = "no SIM inserted"
            return ModemState.NO_SIM
        if cme == CME_SIM_PUK_REQUIRED or code == "SIM PUK":
            self.state_reason = "SIM blocked: PUK required"
            return ModemState.SIM_BLOCKED
        if cme == CME_SIM_PIN_REQUIRED or code == "SIM PIN":
            return None
        if cme == CME_SIM_FAILURE:
            self.state_reason = "SIM failure"
            return ModemState.NO_SIM
        self.state_reason = f"SIM not ready: {code or f'+CME ERROR: {cme}'}"
        return ModemState.NO_SIM

    async def _unlock_sim(self) -> ModemState:
        code, cme = await self._cpin()
        state = self._sim_state(code, cme)
        if state is not None:
            return state
        if not self._pin:
            self.state_reason = "SIM PIN required and no PIN configured"
            return ModemState.PIN_NEEDED
        if self._pin_refused:
            self.state_reason = "configured PIN was refused before; not tried again"
            return ModemState.PIN_NEEDED
        # The PIN is sent ONCE: three wrong PINs block the SIM (TS 31.102 PIN retry counter),
        # so a refusal is reported and never retried by this driver.
        try:
            await self._command(f'AT+CPIN="{self._pin}"')
        except AtCommandFailed as exc:
            self._pin_refused = True
            self.state_reason = f"configured PIN refused ({exc.final.text}); not retried"
            return ModemState.PIN_NEEDED
        code, cme = await self._cpin()
        state = self._sim_state(code, cme)
        if state is None:
            self._pin_refused = True
            self.state_reason = "SIM still asks for its PIN after unlocking; not retried"
            return ModemState.PIN_NEEDED
        return state

    async def _read_sim_identity(self) -> None:
        sim = SimIdentity()
        sim.imsi = parse.parse_imsi(await self._try_lines("AT+CIMI") or [])
        for cmd in self.profile.iccid_commands:
            sim.iccid = parse.parse_iccid(await self._try_lines("AT" + cmd) or [])
            if sim.iccid:
                break
        # TS 27.007 §7.3: format 2 gives the numeric MCC+MNC, format 0 the long name.
        if await self._try_lines("AT+COPS=3,2") is not None:
            sim.operator_code = parse.parse_cops(
                await self._try_lines("AT+COPS?", response_prefix="+COPS") or [])
        if await self._try_lines("AT+COPS=3,0") is not None:
            sim.operator = parse.parse_cops(
                await self._try_lines("AT+COPS?", response_prefix="+COPS") or [])
        sim.own_number = parse.parse_cnum(
            await self._try_lines("AT+CNUM", response_prefix="+CNUM") or [])
        self.identity.sim = sim
