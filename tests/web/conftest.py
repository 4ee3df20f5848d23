"""The web console in a real browser: the appliance on simulated modems in a thread, and
Debian's chromium driven by Playwright for Python (`executable_path`; `playwright install`,
which downloads browsers, is never run).

Fixtures:
- `console` (module): a running appliance on 2 simulated modems, `console.base_url`,
  `console.gateway` (tests.api.conftest.Gateway: API keys, the appliance), `console.users`
  = {role: (name, password)} for admin, approver, operator and viewer (passwords already
  changed), and `console.run(coroutine)` to run a coroutine on the appliance's loop.
- `browser` (module): headless Chromium. A module that uses it must hold only synchronous
  tests (see the fixture).
- `new_page(locale="en-US")` (function): a page in a fresh context (its own cookies);
  every request it makes must stay on 127.0.0.1: one that leaves fails the test (the box
  has no internet; a console that fetched a font or a script from a CDN would break there).
  `page` is `new_page()`.
- `login(page, role)` logs in through the form; `shot(page, name)` keeps a screenshot in
  test-artifacts/screenshots/ (look at them: they are what a user sees).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import hypothesis  # noqa: F401  (imported now, see below)
import pytest

from appliance.accounts.passwords import hash_password
from appliance.config import Config
from appliance.store import accounts as accounts_store
from appliance.store.service import run_in_database
from tests.api.conftest import Gateway, running_in_thread

# Why hypothesis is imported above: Playwright's sync API runs on greenlets, and after a greenlet
# switch CPython 3.11 can miscount the C recursion depth that ast.parse checks. pytest's
# assertion rewriting parses a module when it is first imported; hypothesis's plugin imports
# hypothesis lazily at the end of the session, which then fails with "AST constructor
# recursion depth mismatch". Imported before any browser starts, nothing is parsed later.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "Dawn-Kettle-4821"
ROLES = ("admin", "approver", "operator", "viewer")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    # Without these, Chromium itself calls Google's hosts (the closed network refuses them).
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
]


@dataclass
class Console:
    base_url: str
    gateway: Gateway
    loop: asyncio.AbstractEventLoop
    users: dict[str, tuple[str, str]] = field(default_factory=dict)

    def run(self, coroutine, timeout: float = 30.0) -> Any:
        """Run `coroutine` on the appliance's own event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def appliance(self):
        return self.gateway.appliance


def csrf_of(body: str) -> str:
    """The CSRF token a console page's form carries."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', body)
    assert match, "no CSRF token in the page"
    return match.group(1)


def add_users(url: str, users: dict[str, tuple[str, str]], *,
              must_change_password: bool = False) -> None:
    hashed = {role: hash_password(password) for role, (_, password) in users.items()}

    def create() -> None:
        for role, (name, _) in users.items():
            accounts_store.create_user(name, role, hashed[role],
                                       must_change_password=must_change_password)

    run_in_database(url, create)


def console_users() -> dict[str, tuple[str, str]]:
    return {role: (f"{role}1", PASSWORD) for role in ROLES}


@pytest.fixture(scope="module")
def console(tmp_path_factory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    users = console_users()

    def configure(config: Config) -> None:
        add_users(config.database.url, users)

    with running_in_thread(tmp, modems=2, configure=configure) as (gateway, loop):
        yield Console(base_url=gateway.base_url, gateway=gateway, loop=loop, users=users)


@pytest.fixture(scope="module")
def browser():
    """Module scope, not session: Playwright's sync API keeps an asyncio loop running in the
    main thread while it is open, and pytest-asyncio cannot run an async test then. So a
    browser module holds only synchronous tests, and the browser closes with the module, before
    the worker's next file."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (make test installs "
                    "it when run as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, console) -> Iterator[Callable[..., Any]]:
    contexts = []
    outside: list[str] = []

    def keep_on_box(route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in ("127.0.0.1",
                                                                            "localhost"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    def make(locale: str = "en-US", viewport: dict | None = None):
        context = browser.new_context(locale=locale, base_url=console.base_url,
                                      viewport=viewport or {"width": 1280, "height": 860})
        context.set_default_timeout(15_000)
        context.route("**/*", keep_on_box)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert not outside, f"the console made requests that left the box: {outside}"


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def login(console) -> Callable[..., None]:
    def log_in(page, role: str = "admin", *, name: str | None = None,
               password: str | None = None) -> None:
        user, secret = console.users.get(role, (name, password))
        page.goto("/console/login")
        page.fill("#name", name or user)
        page.fill("#password", password or secret)
        with page.expect_navigation():
            page.click("main button[type=submit]")

    return log_in


@pytest.fixture
def shot() -> Callable[[Any, str], Path]:
    def take(page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
