"""Serving the admin site with waitress (pure Python, fine on a Raspberry Pi).

Each live dashboard keeps one server-sent-events response open, and waitress runs every response
on one of its worker threads, so the thread count is the stream limit (``CALLBOX_MAX_STREAMS``)
plus threads for ordinary pages. Waitress 3 writes each chunk of a streamed response to the
socket at once (its ``send_bytes`` buffer setting is 1 by default and deprecated), so events are
not held back; ``tests/test_web_server.py`` checks that over a real socket.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

from flask import Flask
from waitress.server import create_server

log = logging.getLogger(__name__)

PAGE_THREADS = 8  # threads left for ordinary pages while every stream slot is taken


def make_server(app: Flask, host: str = "0.0.0.0", port: int = 8080):
    """A bound (listening) waitress server; port 0 picks a free port (``server.effective_port``)."""
    threads = int(app.config.get("CALLBOX_MAX_STREAMS", 16)) + PAGE_THREADS
    return create_server(app, host=host, port=port, threads=threads,
                         ident="callbox", channel_timeout=60, connection_limit=200,
                         clear_untrusted_proxy_headers=True)


def serve(app: Flask, host: str = "0.0.0.0", port: int = 8080, *,
          ready: Callable[[object], None] | None = None,
          stop: threading.Event | None = None) -> None:
    """Serve until interrupted, or until ``stop`` is set.

    ``ready(server)`` is called once the socket listens (tests learn the port from it). With a
    ``stop`` event, setting it wakes the loop, which then closes every connection.
    """
    server = make_server(app, host, port)
    log.info("admin site on http://%s:%s", server.effective_host, server.effective_port)
    if ready is not None:
        ready(server)
    if stop is None:
        server.run()
        return
    # waitress has no public "stop" for a server running in a thread; run its loop in short
    # turns and close the channels ourselves (as webtest's StopableWSGIServer does).
    # The loop keeps waitress's own poll timeout, so a test sees the same flushing as production.
    socket_map = server._map
    def wake_on_stop():
        stop.wait()
        try:
            server.pull_trigger()
        except OSError:  # already closed: the loop has ended anyway
            pass

    threading.Thread(target=wake_on_stop, daemon=True, name="web-stop-waker").start()
    try:
        while not stop.is_set() and socket_map:
            server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=socket_map,
                                 count=1, use_poll=server.adj.asyncore_use_poll)
    finally:
        for channel in list(socket_map.values()):
            if channel is server or channel is server.trigger:
                continue
            try:
                channel.handle_close()  # an open connection (an event stream, say)
            except Exception:  # closing a half-dead channel must not hide the real error
                log.debug("closing %r failed", channel, exc_info=True)
        server.close()  # the listening socket and the loop's trigger
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)
