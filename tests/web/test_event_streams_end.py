"""Open console event streams end when the appliance stops (console_web.sse.end_streams), so a
browser tab never holds up a shutdown. In a module of its own: it starts an appliance of its
own, which binds the store's models to its database (a module-scoped console beside it would
then read the wrong one)."""

from __future__ import annotations

import httpx

from tests.web.test_console_core import log_in


def test_open_event_streams_end_when_the_appliance_stops(tmp_path):
    import threading

    from tests.api.conftest import running_in_thread
    from tests.web.conftest import add_users

    def configure(config) -> None:
        add_users(config.database.url, {"viewer": ("watcher", "Dawn-Kettle-4821")})

    ended = threading.Event()
    with running_in_thread(tmp_path, modems=1, configure=configure) as (gateway, _loop):
        http = httpx.Client(base_url=gateway.base_url, timeout=60.0)
        log_in(http, "watcher", "Dawn-Kettle-4821")

        def follow() -> None:
            with http.stream("GET", "/console/events") as stream:
                for _ in stream.iter_lines():
                    pass
            ended.set()

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        ready = threading.Event()
        while not gateway.app.ctx.console_streams and not ready.wait(0.05):
            pass
    # Leaving the block stopped the server: the stream was ended, not left hanging.
    assert ended.wait(20), "the event stream was still open after the appliance stopped"
    http.close()
    assert not gateway.app.ctx.console_streams
