"""Free local ports for the servers the tests start."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    """Return once `process` accepts connections on `port`; fail loudly if it dies."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited at start (code {process.returncode})") from None
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not listen on port {port}")
