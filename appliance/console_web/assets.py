"""Where the console's templates, static files and translations are.

Knows: the two places `web/` can be: beside the package in a checkout, or under the venv's
share/cardgate/web when installed from a wheel (pyproject's data-files, like the modem
profiles).
Must not know: what is in them.
"""

from __future__ import annotations

import sys
from pathlib import Path


def _web_dir() -> Path:
    checkout = Path(__file__).resolve().parents[2] / "web"
    if (checkout / "templates" / "base.html").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "cardgate" / "web"


WEB_DIR = _web_dir()
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
I18N_DIR = WEB_DIR / "i18n"
