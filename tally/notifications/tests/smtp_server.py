"""A real SMTP server on loopback for notification tests (aiosmtpd): it keeps every message
it accepts, and can refuse the next ones or hold one open::

    with smtp_server_run() as smtp:
        smtp.refuse_next(2)                 # 421 to the next two senders, then accept
        ...                                 # the worker sends to smtp.url
        smtp.wait_for_messages(1)
        assert smtp.messages[0]["Subject"] == "…"
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tally.platform.testing.live_server import free_port
from tally.platform.testing.race import DEFAULT_TIMEOUT_SECONDS, wait_until

REFUSAL = "421 4.3.2 Service not available, closing transmission channel"


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"smtp://127.0.0.1:{port}"
        # Every message accepted, in order, parsed.
        self.messages: list[EmailMessage] = []
        # Every delivery that began (MAIL FROM received), refused or not.
        self.deliveries = 0
        self._refusals_left = 0
        self._stall = False
        self._stalled = threading.Event()
        self._release = threading.Event()
        self._lock = threading.Lock()

    def refuse_next(self, count: int) -> None:
        """Answer the next ``count`` deliveries with 421 (service not available)."""
        with self._lock:
            self._refusals_left = count

    def stall_next(self) -> None:
        """Hold the next message's DATA (before accepting it) until :meth:`release`."""
        self._stall = True
        self._stalled.clear()
        self._release.clear()

    def wait_for_stalled(self, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        wait_until(self._stalled.is_set, timeout_seconds=timeout_seconds, message="no message came")

    def release(self) -> None:
        self._release.set()

    def wait_for_messages(
        self, count: int, *, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> list[EmailMessage]:
        wait_until(
            lambda: len(self.messages) >= count,
            timeout_seconds=timeout_seconds,
            message=f"{count} message(s) not received (got {len(self.messages)})",
        )
        return list(self.messages)

    # aiosmtpd handler hooks
    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        with self._lock:
            self.deliveries += 1
            if self._refusals_left > 0:
                self._refusals_left -= 1
                return REFUSAL
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        stall, self._stall = self._stall, False
        if stall:
            self._stalled.set()
            await asyncio.get_running_loop().run_in_executor(
                None, self._release.wait, DEFAULT_TIMEOUT_SECONDS * 4
            )
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"


@contextlib.contextmanager
def smtp_server_run(*, port: int | None = None) -> Iterator[SmtpServer]:
    """Serve an :class:`SmtpServer` on 127.0.0.1 (a free port unless ``port`` is given)."""
    server = SmtpServer(port or free_port())
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        server.release()
        controller.stop()
