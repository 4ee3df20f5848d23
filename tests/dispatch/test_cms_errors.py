"""+CMS / +CME ERROR codes to what they mean for the message and the SIM."""

import pytest

from appliance.dispatch.cms_errors import (
    CME_ERRORS,
    CMS_ERRORS,
    ErrorClass,
    classify_send_error,
    describe_error,
)

T, P, B, S = (ErrorClass.TRANSIENT, ErrorClass.PERMANENT, ErrorClass.BARRING_SUSPECT,
              ErrorClass.SIM_PROBLEM)

CLASSIFY = [
    # (cms, cme, class, words the user-facing reason must contain)
    (1, None, P, "not assigned"),
    (8, None, B, "barr"),
    (10, None, B, "barred"),
    (21, None, B, "rejected"),
    (28, None, P, "subscriber"),
    (29, None, B, "facility rejected"),
    (30, None, P, "subscriber"),
    (38, None, T, "out of order"),
    (41, None, T, "temporary"),
    (42, None, T, "congested"),
    (47, None, T, "resources"),
    (50, None, B, "not subscribed"),
    (69, None, B, "not implemented"),
    (96, None, P, "mandatory"),
    (144, None, P, "coding"),
    (192, None, T, "busy"),
    (195, None, P, "address"),
    (197, None, P, "duplicate"),
    (300, None, T, "modem"),
    (302, None, T, "not allowed"),
    (304, None, P, "PDU"),
    (310, None, S, "no SIM"),
    (311, None, S, "PIN"),
    (313, None, S, "SIM failure"),
    (314, None, T, "busy"),
    (316, None, S, "PUK"),
    (330, None, S, "SMSC"),
    (331, None, T, "no network"),
    (332, None, T, "timeout"),
    (340, None, T, "CNMA"),
    (500, None, T, "unknown"),
    (None, 10, S, "no SIM"),
    (None, 11, S, "PIN"),
    (None, 13, S, "SIM failure"),
    (None, 14, T, "busy"),
    (None, 30, T, "no network"),
    (None, 32, B, "refused"),
    (None, 515, T, "busy"),
    (42, 14, T, "congested"),  # +CMS wins when a modem reports both
]


@pytest.mark.parametrize(("cms", "cme", "error_class", "words"), CLASSIFY)
def test_classify_and_describe(cms: int | None, cme: int | None, error_class: ErrorClass,
                               words: str) -> None:
    assert classify_send_error(cms, cme) is error_class
    assert words.lower() in describe_error(cms, cme).lower()


@pytest.mark.parametrize(("cms", "cme", "shown"), [
    (42, None, "(+CMS ERROR: 42)"),
    (None, 14, "(+CME ERROR: 14)"),
    (999, None, "unknown error 999 (+CMS ERROR: 999)"),
    (None, 777, "unknown error 777 (+CME ERROR: 777)"),
])
def test_description_carries_the_raw_code(cms: int | None, cme: int | None, shown: str) -> None:
    assert describe_error(cms, cme).endswith(shown)


@pytest.mark.parametrize(("cms", "cme"), [(999, None), (600, None), (None, 777), (None, None)])
def test_unknown_codes_and_bare_error_are_transient(cms: int | None, cme: int | None) -> None:
    assert classify_send_error(cms, cme) is ErrorClass.TRANSIENT


def test_design_examples_of_transient_retry_codes() -> None:
    # DESIGN.md: "+CMS ERROR 38, 42, 500… retries on another SIM".
    assert {classify_send_error(c, None) for c in (38, 42, 500)} == {ErrorClass.TRANSIENT}


@pytest.mark.parametrize("table", [CMS_ERRORS, CME_ERRORS])
def test_every_row_has_a_class_and_a_short_reason(table: dict) -> None:
    for code, row in table.items():
        assert isinstance(row.error_class, ErrorClass), code
        assert 3 < len(row.reason) <= 90, code
        assert row.reason == row.reason.strip() and not row.reason.endswith("."), code
