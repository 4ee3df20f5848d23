"""Every documented operation at the edges of its parameters: never a 500, always a documented
answer.

The hypothesis fuzz in test_openapi.py draws a few hundred requests over more than a hundred
operations, and fills path ids with 1, so an edge value rarely meets a given route. This sweep
is exhaustive where it matters: each integer path parameter of each operation set to each of
the integer edges (0, -1, the largest 64-bit integer and beyond, which SQLite and PostgreSQL
keys cannot hold), and each integer or time query parameter, one at a time, to its edges
(times with no UTC equivalent, such as 9999-12-31T23:59:59-23:59, or impossible dates).
Write operations get an empty JSON object as their body, and no id the sweep uses can exist,
so nothing stored is changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from tests.api.test_openapi import ERROR, Live, check, documented_operations, live

__all__ = ["live"]  # the module-scoped appliance of test_openapi, shared by import

pytestmark = pytest.mark.slow

INTEGER_EDGES = ["0", "-1", str(2**63 - 1), str(2**63), str(2**70), "1e3", "x"]
TIME_EDGES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "0000-01-01",
              "2026-13-01T00:00:00Z", "2026-02-30", "99999-01-01T00:00:00Z", "now"]
STRING_PATH_EDGES = ["0", str(2**70), "%00", "x" * 300, "中文", "+0"]


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for (path, method), op in sorted(documented_operations().items())]


def _path_cases() -> Iterator[tuple[str, str, str]]:
    """(documented path, method, concrete URL) with one path parameter at an edge and the
    others at an id that cannot exist."""
    for path, method, op in _operations():
        names = re.findall(r"\{(\w+)\}", path)
        kinds = {p["name"]: p["schema"].get("type") for p in op.get("parameters", [])
                 if p["in"] == "path"}
        for name in names:
            edges = INTEGER_EDGES if kinds.get(name) == "integer" else STRING_PATH_EDGES
            for edge in edges:
                url = path
                for other in names:
                    value = edge if other == name else str(2**63 - 2)
                    url = url.replace("{" + other + "}", quote(value, safe=""))
                yield path, method, url


def _query_cases() -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """(documented path, method, URL, query) with one integer or time query parameter at an
    edge."""
    for path, method, op in _operations():
        url = re.sub(r"\{\w+\}", str(2**63 - 2), path)
        for parameter in op.get("parameters", []):
            if parameter["in"] != "query":
                continue
            schema = parameter["schema"]
            if schema.get("type") == "integer":
                edges = INTEGER_EDGES
            elif schema.get("format") == "date-time":
                edges = TIME_EDGES
            else:
                continue
            for edge in edges:
                yield path, method, url, {parameter["name"]: edge}


PATH_CASES = list(_path_cases())
QUERY_CASES = list(_query_cases())


def _call(live: Live, path: str, method: str, url: str,
          params: dict[str, str] | None = None) -> None:
    operation = documented_operations()[(path, method)]
    body = {} if "requestBody" in operation else None
    response = live.call(method.upper(), url, params=params, json=body)
    assert response.status_code < 500 or response.status_code == 503, (
        f"{method.upper()} {url} {params or ''}: {response.status_code} {response.text[:300]}")
    check(response, path, method)
    if response.status_code >= 400 and method != "head":
        assert not list(ERROR.iter_errors(response.json())), response.text[:300]


def test_the_sweep_covers_every_parameterised_operation() -> None:
    with_path = {(p, m) for p, m, _ in _operations() if "{" in p}
    assert {(p, m) for p, m, _ in PATH_CASES} == with_path
    assert len(PATH_CASES) >= 40 * len(INTEGER_EDGES) // 2
    assert len(QUERY_CASES) >= 50


def test_path_parameters_at_their_edges_never_get_a_500(live: Live) -> None:
    failures = []
    for path, method, url in PATH_CASES:
        try:
            _call(live, path, method, url)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0][:300])
    assert not failures, f"{len(failures)} of {len(PATH_CASES)}:\n" + "\n".join(failures)


def test_query_parameters_at_their_edges_never_get_a_500(live: Live) -> None:
    failures = []
    for path, method, url, params in QUERY_CASES:
        try:
            _call(live, path, method, url, params)
        except AssertionError as exc:
            failures.append(str(exc).splitlines()[0][:300])
    assert not failures, f"{len(failures)} of {len(QUERY_CASES)}:\n" + "\n".join(failures)
