"""The console's two languages: zh-CN and English.

Knows: how a request's language is chosen (the `cg_lang` cookie the switcher sets, else the
browser's Accept-Language, else Chinese: the box's users are Chinese offices first), and the
catalogs: every JSON file in web/i18n maps an English text to its Chinese (one file per part of
the console, merged). The English text is the key, so a string missing from the catalog still
shows, in English, never as a key.
Must not know: pages.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path

from appliance.console_web.assets import I18N_DIR

log = logging.getLogger(__name__)

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "cg_lang"


@cache
def catalog(folder: Path = I18N_DIR) -> dict[str, str]:
    """English → Chinese, from every web/i18n/*.json (sorted by name; a later file's entry for
    the same English text wins, and is logged: two parts should not translate one text
    differently)."""
    merged: dict[str, str] = {}
    for path in sorted(folder.glob("*.json")):
        entries = json.loads(path.read_text(encoding="utf-8"))
        for english, chinese in entries.items():
            if english in merged and merged[english] != chinese:
                log.warning("%s: %r translated twice (%r, %r)", path.name, english,
                            merged[english], chinese)
            merged[english] = chinese
    return merged


def translate(lang: str, text: str, **values: object) -> str:
    """`text` in `lang`, with `{name}` fields filled from `values` after translation."""
    if lang != "en":
        text = catalog().get(text, text)
    return text.format(**values) if values else text


def choose_lang(cookie: str | None, accept_language: str | None) -> str:
    """The switcher's choice; else the first of the browser's languages we speak (by q);
    else Chinese."""
    if cookie in LANGS:
        return cookie
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANG
