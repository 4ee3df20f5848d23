"""The API layer holds no SQL: every query it needs is a store function."""

from __future__ import annotations

import ast
from pathlib import Path

import appliance.api

API = Path(appliance.api.__file__).parent


def test_the_api_imports_no_models_and_no_peewee() -> None:
    offenders = []
    for path in sorted(API.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if n == "peewee" or n.startswith("peewee.")
                          or n == "appliance.store.models"]
    assert offenders == []
