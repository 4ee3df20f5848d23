"""The appliance's configuration: a typed, self-documenting TOML file.

Knows: the keys of cardgate.toml, their defaults and what a valid value is.
Must not know: what the rest of the appliance does with them.

Every key has a default; an unknown key or a bad value raises ConfigError whose message names the
key (`dispatch.per_sim_per_hour: must be an integer >= 0, got "many"`), so start-up can stop with
that one line.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from appliance.typed_toml import build

DEFAULT_CONFIG_PATH = Path("/etc/cardgate/cardgate.toml")


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the file or key at fault."""


@dataclass
class HttpConfig:
    listen: str = "127.0.0.1:8080"
    """host:port the API and console listen on."""

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    def validate(self) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f'http.listen: must be "host:port", got "{self.listen}"')


@dataclass
class ApiConfig:
    metrics_public: bool = False
    """Serve GET /metrics without an API key (for a Prometheus on a trusted LAN). By default a
    scrape needs a key with the "read" scope, as Bearer (Prometheus: `authorization:
    credentials:` in the scrape config)."""

    def validate(self) -> None:
        pass


@dataclass
class DatabaseConfig:
    url: str = "sqlite:////var/lib/cardgate/cardgate.db"
    """sqlite:////absolute/path.db (four slashes), sqlite:///relative.db, or postgresql://…"""

    def validate(self) -> None:
        if not self.url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigError(
                f'database.url: must start with sqlite:/// or postgresql://, got "{self.url}"'
            )


@dataclass
class ModemsConfig:
    autodetect: bool = True
    """Discover USB modems with pyudev (and follow hot-plug)."""
    ports: list[str] = field(default_factory=list)
    """Static serial ports (paths, pty symlinks, globs) watched besides autodetection."""
    baudrate: int = 115200
    pin: str = ""
    """SIM PIN tried once when a SIM asks for one (never retried: three wrong PINs block it)."""
    profiles_dir: str = ""
    """Folder of modem profiles; empty means the firmware-config/modems shipped with cardgate."""
    poll_interval: float = 30.0
    """Seconds between health polls (signal, registration, SIM state)."""
    command_timeout: float = 5.0
    """Seconds an ordinary AT command may take before the modem counts as hung."""
    send_timeout: float = 60.0
    """Seconds a +CMGS may take after the PDU is written before the part is ambiguous."""

    def validate(self) -> None:
        if self.baudrate not in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600):
            raise ConfigError(f"modems.baudrate: not a standard rate: {self.baudrate}")
        if self.pin and not (self.pin.isdigit() and 4 <= len(self.pin) <= 8):
            raise ConfigError("modems.pin: must be 4 to 8 digits")
        for name in ("poll_interval", "command_timeout", "send_timeout"):
            if not (getattr(self, name) > 0 and math.isfinite(getattr(self, name))):
                raise ConfigError(f"modems.{name}: must be > 0, got {getattr(self, name)}")


@dataclass
class DispatchConfig:
    per_sim_per_minute: int = 6
    per_sim_per_hour: int = 200
    """200/hour and 1,000/day: the MIIT cap on person-to-person SMS per Chinese SIM."""
    per_sim_per_day: int = 1000
    per_sim_per_month: int = 0
    """0 means no monthly cap."""
    retries: int = 3
    """Attempts on other SIMs after a transient failure."""
    ambiguous: str = "hold"
    """What to do with a part whose +CMGS got no answer: "hold" (record it, never resend) or
    "resend" (what smstools3, Kannel and gammu do; every such case duplicated when measured)."""
    operator_affinity: bool = True
    """Prefer a free SIM on the recipient's own network."""
    sticky_recipients: bool = True
    """Keep a recipient on the SIM that last wrote to them, while it is healthy and under caps."""
    status_report: bool = True
    """Ask the network for a status report for every part."""
    report_wait: float = 172800.0
    """Seconds to wait for a status report; a part without one stays `sent`."""
    default_ttl: float = 86400.0
    """Seconds after which a message not yet sent expires instead of going late."""
    timezone: str = "Asia/Shanghai"
    """Where the monthly cap resets, and the calendar counts of reports roll over (the minute,
    hour and day caps are sliding windows: any 60 s, any 60 minutes, any 24 hours)."""
    rest_after_failures: int = 3
    """Failures in a row (transient or barring-type errors) before a SIM rests; one failure
    only sends the part on through another SIM. A SIM problem (no SIM, PIN) rests at once."""
    rest_after_silences: int = 2
    """Unanswered +CMGS in a row before a SIM rests; after one, the modem is only probed."""
    rest_base_seconds: float = 5.0
    """The first rest, in seconds; each further failure in the run doubles it."""
    rest_max_seconds: float = 300.0
    """The longest rest for a run of failures or silences, in seconds."""
    send_timeout_factor: float = 3.0
    """A +CMGS is given this many times the SIM's recent p99 turnaround before the part counts
    as unanswered (never less than send_timeout_floor, never more than modems.send_timeout)."""
    pinned_grace_seconds: float = 30.0
    """How long a long message whose first parts left through a SIM waits for that SIM after it
    went away (unplugged, dead, barred). Then what left (or may have) is not sent twice: the
    message ends `ambiguous` (a part may have left) or `failed` (parts left, the rest cannot
    follow through another SIM), naming the parts; with `ambiguous = "resend"` the whole
    message goes again through another SIM (the handset may show the first fragment as well).
    A message pinned with nothing sent (a reply to the SIM written to) goes through another."""
    send_timeout_floor: float = 5.0
    """Seconds: the shortest +CMGS timeout, however fast the SIM's recent answers were. The
    ceiling wins where they cross: a modems.send_timeout below it is the timeout."""
    max_recipients: int = 10_000
    """Recipients one send request may name (JSON API, Kannel, playSMS, Android); a larger
    request is refused whole, naming the bound. At most 100,000."""

    @property
    def resend_ambiguous(self) -> bool:
        """Whether an unanswered +CMGS part goes out again (`ambiguous = "resend"`)."""
        return self.ambiguous == "resend"

    def validate(self) -> None:
        for name in ("per_sim_per_minute", "per_sim_per_hour", "per_sim_per_day",
                     "per_sim_per_month", "retries"):
            if getattr(self, name) < 0:
                raise ConfigError(f"dispatch.{name}: must be >= 0, got {getattr(self, name)}")
        if not 1 <= self.max_recipients <= 100_000:
            raise ConfigError(f"dispatch.max_recipients: must be from 1 to 100000, got "
                              f"{self.max_recipients}")
        if self.ambiguous not in ("hold", "resend"):
            raise ConfigError(f'dispatch.ambiguous: must be "hold" or "resend", got '
                              f'"{self.ambiguous}"')
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(self.timezone)
        except Exception:
            raise ConfigError(f'dispatch.timezone: unknown time zone "{self.timezone}"') from None
        for name in ("rest_after_failures", "rest_after_silences"):
            if getattr(self, name) < 1:
                raise ConfigError(f"dispatch.{name}: must be >= 1, got {getattr(self, name)}")
        # Written as "not (x > 0)" so that nan is refused too (TOML allows nan and inf).
        for name in ("rest_base_seconds", "rest_max_seconds", "send_timeout_floor",
                     "pinned_grace_seconds"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"dispatch.{name}: must be a number > 0, got {value}")
        if self.rest_base_seconds > self.rest_max_seconds:
            raise ConfigError(f"dispatch.rest_base_seconds: must be <= dispatch.rest_max_seconds "
                              f"({self.rest_max_seconds}), got {self.rest_base_seconds}")
        if not (self.send_timeout_factor >= 1 and math.isfinite(self.send_timeout_factor)):
            raise ConfigError(f"dispatch.send_timeout_factor: must be a number >= 1, got "
                              f"{self.send_timeout_factor}")


@dataclass
class InboxConfig:
    partial_after_seconds: float = 3600.0
    """A long message still missing a part this long after its first part arrived is stored as
    partial (a late part completes it later). The parts of one message are sent together and
    normally arrive within seconds; a gap means the SMSC is retrying a part, and its retry
    intervals grow to tens of minutes. An hour lets most such retries land, yet a reply is not
    left unseen (nor unanswered by the rules) for most of a day."""

    def validate(self) -> None:
        value = self.partial_after_seconds
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"inbox.partial_after_seconds: must be a number > 0, got {value}")


@dataclass
class RulesConfig:
    reply_cooldown_seconds: float = 60.0
    """At most one automatic reply to a number within this many seconds (0: no cooldown);
    another rule's reply in that time is skipped and logged as blocked."""
    loop_limit: int = 5
    """Automatic replies to one number within loop_window_seconds after which no more go (two
    auto-responders answering each other stop here; logged as a loop). 0: no bound."""
    loop_window_seconds: float = 3600.0
    unsubscribe_keywords: list[str] = field(
        default_factory=lambda: ["TD", "T", "退订", "STOP", "UNSUBSCRIBE"])
    """A reply that is exactly one of these (any case or width, spaces around ignored) puts
    its number on the blacklist."""
    resubscribe_keywords: list[str] = field(default_factory=lambda: ["订阅", "START"])
    """A reply that is exactly one of these takes its number off the blacklist."""
    unsubscribe_reply: str = "您已成功退订，将不再收到本号码的短信。如需恢复，请回复“订阅”。"
    """The confirmation sent after an unsubscribe (empty: none). It goes out even though the
    number is now blacklisted: it is the last message that number gets."""
    resubscribe_reply: str = "您已恢复订阅本号码的短信。回复“TD”可随时退订。"
    """The confirmation sent after a resubscribe (empty: none)."""

    def validate(self) -> None:
        for name in ("reply_cooldown_seconds", "loop_window_seconds"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"rules.{name}: must be a number >= 0, got {value}")
        if self.loop_limit < 0:
            raise ConfigError(f"rules.loop_limit: must be >= 0, got {self.loop_limit}")
        if self.loop_limit and not self.loop_window_seconds > 0:
            raise ConfigError("rules.loop_window_seconds: must be > 0 when rules.loop_limit "
                              "is set")
        from appliance.inbox.rules.text import normalize_text

        seen: dict[str, str] = {}
        for name in ("unsubscribe_keywords", "resubscribe_keywords"):
            for i, word in enumerate(getattr(self, name)):
                folded = normalize_text(word)
                if not folded:
                    raise ConfigError(f"rules.{name}[{i}]: must not be empty")
                if folded in seen and seen[folded] != name:
                    raise ConfigError(f'rules.{name}[{i}]: "{word}" is also in '
                                      f"rules.{seen[folded]}")
                seen[folded] = name
        for name in ("unsubscribe_reply", "resubscribe_reply"):
            text = getattr(self, name)
            if len(text) > 300 or any(ord(c) < 32 and c not in "\n\r\t" for c in text):
                raise ConfigError(f"rules.{name}: must be at most 300 characters, without "
                                  "control characters")


@dataclass
class LogConfig:
    level: str = "INFO"
    traffic_lines: int = 500
    """AT lines kept per modem in the raw traffic ring."""

    def validate(self) -> None:
        if self.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f'log.level: must be DEBUG, INFO, WARNING or ERROR, got '
                              f'"{self.level}"')


@dataclass
class ContactsConfig:
    default_region: str = "CN"
    """ISO 3166 region a number without a country code is read in (contacts, groups, the
    blacklist, conversation look-ups): "13800138000" is +8613800138000 with "CN"."""

    def validate(self) -> None:
        import phonenumbers

        if self.default_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f'contacts.default_region: not a region phone numbers know '
                              f'(an ISO 3166 code such as "CN"), got "{self.default_region}"')


@dataclass
class WebhooksConfig:
    timeout: float = 10.0
    """Seconds one POST may take (connect, send, answer) before it counts as a failure."""
    max_attempts: int = 0
    """Attempts before a delivery fails for good (0: no limit, max_age alone decides). No
    limit by default: with the default backoff, 15 attempts were spent within 3-6 hours, so a
    receiver down overnight lost its events although max_age promised a day."""
    max_age: float = 86400.0
    """Seconds after which a delivery still failing fails for good (0: no limit)."""
    backoff_base: float = 5.0
    """The wait after a first failure; doubled for each further one, with jitter."""
    backoff_cap: float = 3600.0
    """The longest wait between two attempts."""
    concurrency: int = 8
    """POSTs in flight at once, over every endpoint."""
    per_endpoint: int = 2
    """POSTs in flight at once to one endpoint: a dead one cannot occupy every worker."""
    retention: float = 604800.0
    """Seconds delivered and failed deliveries are kept (7 days), then pruned."""

    def validate(self) -> None:
        for name in ("timeout", "backoff_base", "backoff_cap"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"webhooks.{name}: must be a number > 0, got {value}")
        for name in ("max_age", "retention"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"webhooks.{name}: must be a number >= 0, got {value}")
        if self.max_attempts < 0:
            raise ConfigError(f"webhooks.max_attempts: must be an integer >= 0, got "
                              f"{self.max_attempts}")
        if self.max_attempts == 0 and self.max_age == 0:
            raise ConfigError("webhooks.max_attempts: 0 (no limit) needs webhooks.max_age > 0, "
                              "or a delivery to a dead endpoint would be retried forever")
        for name in ("concurrency", "per_endpoint"):
            if getattr(self, name) < 1:
                raise ConfigError(f"webhooks.{name}: must be an integer >= 1, got "
                                  f"{getattr(self, name)}")
        if self.backoff_base > self.backoff_cap:
            raise ConfigError(f"webhooks.backoff_base: must be <= webhooks.backoff_cap "
                              f"({self.backoff_cap}), got {self.backoff_base}")


SIGNATURE_MIN, SIGNATURE_MAX = 2, 8
"""Characters inside 【】: the carriers' rule for a signature (单位简称)."""
SIGNATURE_FORBIDDEN = "【】[]［］〖〗〔〕〘〙()（）<>《》{}｛｝"


def signature_problem(name: str) -> str | None:
    """Why `name` (the text inside 【】) cannot be a signature, or None when it can."""
    if not SIGNATURE_MIN <= len(name) <= SIGNATURE_MAX:
        return (f"must be {SIGNATURE_MIN} to {SIGNATURE_MAX} characters inside 【】, got "
                f"{len(name)}")
    if any(c in SIGNATURE_FORBIDDEN or c.isspace() or ord(c) < 32 for c in name):
        return "must not contain brackets, spaces or control characters"
    return None


@dataclass
class PolicyConfig:
    signature: str = ""
    """The box's signature, the text inside 【】 (e.g. "市政务中心"; "【市政务中心】" is read the
    same): every message without a department signature carries it, auto-answers and the
    appliance's own messages too. Empty: no signature is added or checked."""
    signature_placement: str = "start"
    """Where the signature goes: "start" (the carriers' convention) or "end"."""
    on_missing: str = "add"
    """A text without the signature: "add" it, or "refuse" the request."""
    on_forged: str = "replace"
    """A text carrying another 【signature】 (or one in look-alike brackets: [ ] 〖〗 ［］) at
    its start or end: "replace" it with the sender's own, or "refuse" the request."""
    unsubscribe_hint: str = "回T退订"
    """Appended to a marketing message that carries no unsubscribe hint of its own."""

    def validate(self) -> None:
        name = self.signature.strip()
        if name.startswith("【") and name.endswith("】"):
            name = name[1:-1]
        self.signature = name
        if name:
            problem = signature_problem(name)
            if problem:
                raise ConfigError(f'policy.signature: {problem} ("{name}")')
        choices = {"signature_placement": ("start", "end"), "on_missing": ("add", "refuse"),
                   "on_forged": ("replace", "refuse")}
        for key, allowed in choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f'policy.{key}: must be "{allowed[0]}" or "{allowed[1]}", '
                                  f'got "{getattr(self, key)}"')
        hint = self.unsubscribe_hint.strip()
        if not hint or len(hint) > 20 or any(ord(c) < 32 for c in hint):
            raise ConfigError("policy.unsubscribe_hint: must be 1 to 20 characters, without "
                              "control characters")
        self.unsubscribe_hint = hint


@dataclass
class ConsentConfig:
    required_for_marketing: bool = False
    """Marketing messages go only to numbers whose consent is granted (imported as such, a
    订阅/START reply, or entered by staff); the others are left out with the reason. A number
    that withdrew its consent (退订/TD/STOP) never gets marketing, whatever this says."""

    def validate(self) -> None:
        pass


@dataclass
class AdminConfig:
    socket: str = "/run/cardgate/admin.sock"
    """The local admin socket the technician's console talks to (a unix socket, mode 0660:
    the service user and its group may use it; nobody else)."""
    lang: str = ""
    """The technician console's language, "zh" or "en"; empty: from the LANG variable."""

    def validate(self) -> None:
        if not self.socket.startswith("/"):
            raise ConfigError(f'admin.socket: must be an absolute path, got "{self.socket}"')
        # sockaddr_un holds 108 bytes with the final NUL: a longer path cannot be bound.
        if len(self.socket.encode()) > 107:
            raise ConfigError(f"admin.socket: a unix socket path may be at most 107 bytes, "
                              f"got {len(self.socket.encode())}")
        if self.lang not in ("", "zh", "en"):
            raise ConfigError(f'admin.lang: must be "zh", "en" or "", got "{self.lang}"')


APPROVAL_MODES = ("none", "all", "above", "category")
CATEGORIES = ("otp", "alert", "notice", "marketing")  # dispatch.balancer.PRIORITY's keys


@dataclass
class ApprovalConfig:
    """The box's default approval rule; a department's own rule (approval_rule) overrides it."""

    mode: str = "none"
    """Which send requests wait for an approver: "none", "all", "above" (more than `above`
    recipients) or "category" (one of `categories`)."""
    above: int = 100
    """mode "above": a request to more recipients than this needs approval."""
    categories: list[str] = field(default_factory=lambda: ["marketing"])
    """mode "category": the categories that need approval."""

    def validate(self) -> None:
        if self.mode not in APPROVAL_MODES:
            raise ConfigError(f"approval.mode: must be one of {', '.join(APPROVAL_MODES)}, "
                              f'got "{self.mode}"')
        if self.above < 0:
            raise ConfigError(f"approval.above: must be an integer >= 0, got {self.above}")
        for name in self.categories:
            if name not in CATEGORIES:
                raise ConfigError(f"approval.categories: unknown category \"{name}\" (known: "
                                  f"{', '.join(CATEGORIES)})")


@dataclass
class QuotasConfig:
    on_excess: str = "refuse"
    """A request larger than what is left of a quota or a prepaid balance: "refuse" it whole,
    or "split": accept the recipients that fit and leave the rest out ("over quota")."""

    def validate(self) -> None:
        if self.on_excess not in ("refuse", "split"):
            raise ConfigError(f'quotas.on_excess: must be "refuse" or "split", got '
                              f'"{self.on_excess}"')


@dataclass
class AccountsConfig:
    lockout_after: int = 5
    """Failed logins in a row for one user before it is locked out for a while."""
    address_lockout_after: int = 20
    """Failed logins in a row from one client address (whatever the names tried) before the
    address is locked out for a while."""
    lockout_base_seconds: float = 30.0
    """The first lockout; each further failure while the count is over the bound doubles it."""
    lockout_max_seconds: float = 3600.0
    """The longest lockout."""
    forget_failures_after: float = 86400.0
    """Seconds without a failure after which a user's or an address's count starts again."""
    session_idle_seconds: float = 1800.0
    """A console session unused this long ends."""
    session_max_seconds: float = 43200.0
    """A console session ends this long after login, however busy."""
    min_password_length: int = 8
    """The shortest password a user may choose (never below 8)."""

    def validate(self) -> None:
        for name in ("lockout_after", "address_lockout_after"):
            if getattr(self, name) < 1:
                raise ConfigError(f"accounts.{name}: must be an integer >= 1, got "
                                  f"{getattr(self, name)}")
        for name in ("lockout_base_seconds", "lockout_max_seconds", "forget_failures_after",
                     "session_idle_seconds", "session_max_seconds"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"accounts.{name}: must be a number > 0, got {value}")
        if self.lockout_base_seconds > self.lockout_max_seconds:
            raise ConfigError(f"accounts.lockout_base_seconds: must be <= "
                              f"accounts.lockout_max_seconds ({self.lockout_max_seconds}), "
                              f"got {self.lockout_base_seconds}")
        if self.session_idle_seconds > self.session_max_seconds:
            raise ConfigError(f"accounts.session_idle_seconds: must be <= "
                              f"accounts.session_max_seconds ({self.session_max_seconds}), "
                              f"got {self.session_idle_seconds}")
        if not 8 <= self.min_password_length <= 128:
            raise ConfigError(f"accounts.min_password_length: must be from 8 to 128, got "
                              f"{self.min_password_length}")


@dataclass
class DedupeConfig:
    enabled: bool = True
    """The same text to the same number is not sent twice within `window` (policy.dedupe)."""
    window: str = "working_day"
    """"working_day": since the same clock time on the previous working day (weekends,
    `holidays` and `working_weekend_days` counted, in dispatch.timezone); or "<N>h": the last
    N hours (e.g. "24h")."""
    holidays: list[str] = field(default_factory=list)
    """Public holidays on weekdays, as dates "YYYY-MM-DD": not working days."""
    working_weekend_days: list[str] = field(default_factory=list)
    """Saturdays and Sundays that are working days (调休), as dates "YYYY-MM-DD"."""

    def window_hours(self) -> float | None:
        """The window in hours, or None for "working_day"."""
        if self.window == "working_day":
            return None
        return float(self.window[:-1])

    def validate(self) -> None:
        import re

        from appliance.policy.workdays import WorkCalendar

        if self.window != "working_day":
            match = re.fullmatch(r"(\d{1,4}(?:\.\d+)?)h", self.window)
            if match is None or not 0 < float(match.group(1)) <= 8784:
                raise ConfigError(f'dedupe.window: must be "working_day" or a number of hours '
                                  f'such as "24h" (at most 8784h), got "{self.window}"')
        try:
            calendar = WorkCalendar.from_strings(self.holidays, self.working_weekend_days)
        except ValueError as exc:
            raise ConfigError(f"dedupe.{exc}") from None
        for day in calendar.working_weekend_days:
            if day.weekday() < 5:
                raise ConfigError(f"dedupe.working_weekend_days: {day.isoformat()} is not a "
                                  "Saturday or Sunday")


@dataclass
class PolicyLimitsConfig:
    max_recipients_per_send: int = 0
    """Recipients one send may have: the number agreed with the SMS provider (0: no cap of its
    own; dispatch.max_recipients still bounds every request). A department's own cap, set
    through PUT /api/v1/recipient-caps/{department_id}, overrides it."""

    def validate(self) -> None:
        if self.max_recipients_per_send < 0:
            raise ConfigError(f"policy_limits.max_recipients_per_send: must be an integer >= 0, "
                              f"got {self.max_recipients_per_send}")


@dataclass
class QuietHoursConfig:
    enabled: bool = True
    start: str = "21:00"
    """Local time (dispatch.timezone) from which the categories below wait."""
    end: str = "08:00"
    """Local time at which they go again (before `start`: the span crosses midnight)."""
    categories: list[str] = field(default_factory=lambda: ["notice", "marketing"])
    """Message categories held during quiet hours (alert and otp always pass)."""

    def validate(self) -> None:
        from appliance.policy.holds import parse_clock

        for name in ("start", "end"):
            try:
                parse_clock(getattr(self, name), f"quiet_hours.{name}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for i, category in enumerate(self.categories):
            if category not in ("notice", "marketing"):
                raise ConfigError(f'quiet_hours.categories[{i}]: must be "notice" or '
                                  f'"marketing" (alerts and one-time codes always pass), got '
                                  f'"{category}"')


@dataclass
class MaintenanceConfig:
    windows: list[str] = field(default_factory=list)
    """Maintenance windows, "START/END" in local ISO time (e.g.
    "2026-12-05T22:00/2026-12-06T02:00"): every message but alerts waits during them.
    PUT /api/v1/maintenance switches maintenance on or off at once."""

    def validate(self) -> None:
        import zoneinfo

        from appliance.policy.holds import windows_from_strings

        try:
            windows_from_strings(self.windows, zoneinfo.ZoneInfo("UTC"), "maintenance.windows")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


@dataclass
class Config:
    http: HttpConfig = field(default_factory=HttpConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    modems: ModemsConfig = field(default_factory=ModemsConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    inbox: InboxConfig = field(default_factory=InboxConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    log: LogConfig = field(default_factory=LogConfig)
    contacts: ContactsConfig = field(default_factory=ContactsConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    accounts: AccountsConfig = field(default_factory=AccountsConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    consent: ConsentConfig = field(default_factory=ConsentConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    approval: ApprovalConfig = field(default_factory=ApprovalConfig)
    quotas: QuotasConfig = field(default_factory=QuotasConfig)
    dedupe: DedupeConfig = field(default_factory=DedupeConfig)
    policy_limits: PolicyLimitsConfig = field(default_factory=PolicyLimitsConfig)
    quiet_hours: QuietHoursConfig = field(default_factory=QuietHoursConfig)
    maintenance: MaintenanceConfig = field(default_factory=MaintenanceConfig)

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            getattr(self, f.name).validate()


def config_from_dict(data: dict) -> Config:
    config = build(Config, data, ConfigError)
    assert isinstance(config, Config)
    config.validate()
    return config


def load_config(path: Path | str) -> Config:
    """Read and validate a config file; a ConfigError names the file and the key at fault."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


__all__ = ["Config", "ConfigError", "load_config", "config_from_dict", "DEFAULT_CONFIG_PATH"]
