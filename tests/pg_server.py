"""A throw-away PostgreSQL server for the test session, when the server binaries are installed.

Set ALLIES_TEST_POSTGRES_URL to use an existing server instead (a database the tests may wipe).
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time


def _find_bin(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowAwayPostgres:
    """initdb into a temporary folder, pg_ctl start on a loopback port, stop at the end."""

    def __init__(self):
        self.url = None
        self.reason = ""
        self.folder = None
        self.pg_ctl = _find_bin("pg_ctl")
        self.initdb = _find_bin("initdb")
        self.as_user: list[str] = []

    def start(self) -> bool:
        """Start the server; False (with ``reason`` set) when it cannot run here."""
        if not (self.pg_ctl and self.initdb):
            self.reason = "the postgresql package is not installed (no initdb/pg_ctl)"
            return False
        self.folder = tempfile.mkdtemp(prefix="allies-pg-")
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if shutil.which("runuser") is None:
                self.reason = "running as root without runuser"
                return False
            shutil.chown(self.folder, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        data = os.path.join(self.folder, "data")
        port = _free_port()
        try:
            subprocess.run(
                [
                    *self.as_user,
                    self.initdb,
                    "-D",
                    data,
                    "-U",
                    "allies",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            subprocess.run(
                [
                    *self.as_user,
                    self.pg_ctl,
                    "-D",
                    data,
                    "-l",
                    os.path.join(self.folder, "log"),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    f"-p {port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                    "start",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            output = getattr(exc, "stderr", b"") or b""
            self.reason = f"could not start a throw-away server: {exc} {output.decode(errors='replace')[-300:]}"
            return False
        self.url = f"postgresql+psycopg://allies@127.0.0.1:{port}/postgres"
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return True
            time.sleep(0.2)
        self.reason = "the throw-away server did not answer"
        return False

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        if self.folder and self.url:
            subprocess.run(
                [
                    *self.as_user,
                    self.pg_ctl,
                    "-D",
                    os.path.join(self.folder, "data"),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
            )
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
