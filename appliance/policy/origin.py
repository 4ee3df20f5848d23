"""Who submitted a message, and through which door: kept with every message, and the key the
policy rules (quotas, approval, signatures per department) look things up by.

Knows: the names of the doors and what a submitter is.
Must not know: how a door authenticates its caller, or storage.
"""

from __future__ import annotations

from dataclasses import dataclass

DOORS = ("api", "kannel", "playsms", "android", "console", "serial", "rules", "cli", "system")
"""Every way a message can come in: `api` the JSON API, `kannel`/`playsms`/`android` the
compatible APIs, `console` the web console, `serial` the technician's console, `rules` an
auto-answer, `cli` a command line tool, `system` the appliance itself (an unsubscribe
confirmation...)."""


@dataclass(frozen=True)
class Origin:
    """The submitter of a send request, as far as its door knows it.

    An API key bound to a user or a department (step 6) carries that binding here, so a
    device's messages count against its department's quota like a person's.
    """

    door: str = "system"
    address: str = ""  # the client's IP address, when it came over the network
    api_key_id: int | None = None
    user_id: int | None = None
    department_id: int | None = None
    role: str | None = None  # the submitting user's role: admin / approver / operator / viewer

    def __post_init__(self) -> None:
        if self.door not in DOORS:
            raise ValueError(f"unknown door {self.door!r} (one of {', '.join(DOORS)})")
