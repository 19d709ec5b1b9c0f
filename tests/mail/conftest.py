"""The test SMTP servers (aiosmtpd) of the mail tests: one that can accept, defer (451) or
refuse (550), one that hangs, and a closed port.
"""

import socket
import threading
from collections import Counter
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller


class SwitchableHandler:
    """An aiosmtpd handler whose answer can be switched: accept, 451 or 550 after DATA.

    Accepted messages are kept, parsed, so tests can count them and read them by Message-ID.
    Recipients in ``refuse_rcpt`` get the reply stored there (e.g. "550 ...") at RCPT TO.
    """

    def __init__(self):
        self.mode = "accept"
        self.refuse_rcpt: dict[str, str] = {}
        self.received = []
        self.lock = threading.Lock()

    def reset(self):
        self.mode = "accept"
        self.refuse_rcpt = {}
        with self.lock:
            self.received = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "451":
            return "451 4.3.0 Mailbox busy, try again later"
        if self.mode == "550":
            return "550 5.7.1 Message refused by policy"
        message = message_from_bytes(envelope.original_content, policy=default_policy)
        with self.lock:
            self.received.append(message)
        return "250 2.0.0 Accepted"

    def counts_by_message_id(self) -> Counter:
        with self.lock:
            return Counter(message["Message-ID"] for message in self.received)

    def by_message_id(self, message_id):
        with self.lock:
            return [m for m in self.received if m["Message-ID"] == message_id]


class HangingServer:
    """Accepts TCP connections and never says a word (an SMTP server that hangs)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.connections = []
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)
            self.connected.set()

    def reset(self):
        for conn in self.connections:
            conn.close()
        self.connections = []
        self.connected.clear()

    def close(self):
        self.reset()
        self.sock.close()


def unused_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpServers:
    """The accepting/deferring/refusing server, the hanging one, and a closed port."""

    def __init__(self):
        self.handler = SwitchableHandler()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=unused_port())
        self.controller.start()
        self.port = self.controller.port
        self.hanging = HangingServer()
        self.refused_port = unused_port()

    def reset(self):
        self.handler.reset()
        self.hanging.reset()

    def stop(self):
        self.controller.stop()
        self.hanging.close()


@pytest.fixture(scope="module")
def smtp_servers():
    servers = SmtpServers()
    yield servers
    servers.stop()


@pytest.fixture
def smtp(smtp_servers):
    """The test SMTP servers, reset to accept with nothing received."""
    smtp_servers.reset()
    yield smtp_servers
    smtp_servers.reset()
