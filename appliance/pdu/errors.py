"""The one exception the PDU codec raises.

Knows: nothing but the error type. Must not know: anything about modems or storage; callers
(the modem reader) catch `PduError`, quarantine the raw hex and carry on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class PduError(ValueError):
    """A PDU that cannot be decoded, or arguments that cannot be encoded into one.

    Every failure while decoding raises this (never IndexError, KeyError, UnicodeError...),
    so one `except PduError` is enough to keep a reader alive on a bad PDU.
    """


def pdu_errors_only(decoder: Callable[_P, _R]) -> Callable[_P, _R]:
    """Last line of defence for the "only PduError" promise of a public decoder.

    The decoders check every length themselves; this turns a slip (an IndexError from a case
    nobody thought of) into a PduError a reader can quarantine. The fuzz tests hunt for those.
    """

    @functools.wraps(decoder)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return decoder(*args, **kwargs)
        except PduError:
            raise
        except (ValueError, IndexError, KeyError, TypeError) as exc:  # pragma: no cover
            raise PduError(f"undecodable PDU: {exc!r}") from exc

    return guarded
