"""A Python connector for tests/authors.rs that tries what the sandbox forbids or should allow:
`socket` to a listening loopback port (must reach nothing), an uncaught exception (must come
back as an internal error with its traceback), and clocks and random numbers (must work)."""

import os
import socket
import time

from red_connector import Connector, ConnectorError, ErrorKind, connector  # noqa: F401


@connector(name="hostile-python", version="0", description="tries what the sandbox forbids")
class Hostile:
    def validate(self, access: dict, direction: str) -> None:
        pass

    def receive(self, access: dict, target) -> None:
        attack = access.get("attack")
        if attack == "socket":
            try:
                conn = socket.create_connection(("127.0.0.1", int(access["port"])), timeout=2)
            except Exception as e:  # the sandbox refuses it
                raise ConnectorError(ErrorKind.NETWORK, f"socket refused: {type(e).__name__}: {e}")
            conn.sendall(b"escaped")
            target.write(b"connected")
        elif attack == "raise":
            ratio = 1 / int(access.get("zero", 0))
            target.write(str(ratio).encode())
        elif attack == "clock":
            now = time.time()
            noise = os.urandom(16)
            target.write(f"time={now:.0f} random={noise.hex()}".encode())
        else:
            raise ConnectorError(ErrorKind.INVALID_ACCESS, f"/attack: unknown {attack!r}")

    def send(self, access: dict, source) -> None:
        pass
