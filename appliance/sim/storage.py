"""The simulated SIM's message store ("SM"): numbered slots holding PDUs with a status.

Knows: slot numbering, capacity, the <stat> values of TS 27.005 §3.1 (0 REC UNREAD, 1 REC READ,
2 STO UNSENT, 3 STO SENT) and which of them each +CMGD <delflag> and +CMGL <stat> selects.
Must not know: AT syntax or PDU contents.
"""

from __future__ import annotations

from dataclasses import dataclass

REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3

# +CMGD=<index>,<delflag>: which statuses each flag deletes (TS 27.005 §3.5.4).
_DELFLAG_STATS = {1: {REC_READ}, 2: {REC_READ, STO_SENT}, 3: {REC_READ, STO_SENT, STO_UNSENT},
                  4: {REC_UNREAD, REC_READ, STO_SENT, STO_UNSENT}}


@dataclass
class StoredMessage:
    stat: int
    pdu: str  # hex, with the SMSC prefix, as +CMGR prints it


class MessageStore:
    """Slots first_index .. first_index+capacity-1; a full store refuses (and counts) arrivals."""

    def __init__(self, capacity: int = 30, first_index: int = 0):
        self.capacity = capacity
        self.first_index = first_index
        self.slots: dict[int, StoredMessage] = {}
        self.refused = 0  # arrivals lost because the store was full

    def valid_index(self, index: int) -> bool:
        return self.first_index <= index < self.first_index + self.capacity

    def store(self, pdu: str, stat: int = REC_UNREAD) -> int | None:
        """Put a PDU in the lowest free slot; None (and counted) when full."""
        for index in range(self.first_index, self.first_index + self.capacity):
            if index not in self.slots:
                self.slots[index] = StoredMessage(stat, pdu)
                return index
        self.refused += 1
        return None

    def read(self, index: int) -> StoredMessage | None:
        """The message at `index`; reading an unread one marks it read, as a modem does."""
        message = self.slots.get(index)
        if message is None:
            return None
        shown = StoredMessage(message.stat, message.pdu)
        if message.stat == REC_UNREAD:
            message.stat = REC_READ
        return shown

    def list(self, stat: int) -> list[tuple[int, StoredMessage]]:
        """Messages with `stat` (4 = all) in slot order, marking unread ones read."""
        out = []
        for index in sorted(self.slots):
            if stat == 4 or self.slots[index].stat == stat:
                shown = self.read(index)
                assert shown is not None
                out.append((index, shown))
        return out

    def delete(self, index: int, flag: int = 0) -> None:
        if flag == 0:
            self.slots.pop(index, None)
            return
        doomed = _DELFLAG_STATS[flag]
        for slot in [i for i, m in self.slots.items() if m.stat in doomed]:
            del self.slots[slot]

    @property
    def used(self) -> int:
        return len(self.slots)
