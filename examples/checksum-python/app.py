"""A RED connector in Python: an HTTP receive that verifies the file's SHA-256 while it
streams, and keeps nothing when the digest differs.

Access document: {"url": "https://...", "sha256": "<64 hex digits>", "auth"?: {...},
"disableSSLVerification"?: false}.

Build: red-connector-build app.py -o checksum-python.wasm
Run:   red-wasm run ./checksum-python.wasm access.json -o data.bin
"""

import hashlib

from red_connector import Connector, ConnectorError, ErrorKind, Object, Problems, connector  # noqa: F401
from red_connector.host import HttpAccess, check_status, info, send

SCHEMA = {
    "type": "object",
    "properties": {"url": {"type": "string"}, "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"}},
    "required": ["url", "sha256"],
}


def checked(doc: dict) -> HttpAccess:
    problems = Problems()
    root = Object.root(doc, problems)
    access = HttpAccess.parse(root, problems, extra=["sha256"])
    if root is not None:
        digest = root.required_str("sha256", problems)
        if digest is not None and (len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest.lower())):
            problems.add(root.path_of("sha256"), "expected 64 hex digits")
    problems.raise_if_any()
    return access


@connector(name="checksum-python", version="0.1.0",
           description="HTTP receive that verifies a SHA-256 (a red-wasm example in Python)", schema=SCHEMA)
class Checksum:
    def validate(self, access: dict, direction: str) -> None:
        checked(access)
        if direction == "send":
            raise ConnectorError(ErrorKind.INVALID_ACCESS, "/: this connector only receives")

    def receive(self, access: dict, target) -> None:
        http_access = checked(access)
        response = send(http_access.request("GET"))
        check_status(response, "GET")
        digest = hashlib.sha256()
        size = 0
        while True:
            chunk = response.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
            target.write(chunk)
            size += len(chunk)
        expected = access["sha256"].lower()
        if digest.hexdigest() != expected:
            raise ConnectorError(
                ErrorKind.REMOTE,
                f"{http_access.url}: the {size} bytes have SHA-256 {digest.hexdigest()}, not {expected}",
            )
        info(f"{size} bytes, SHA-256 verified")

    def send(self, access: dict, source) -> None:
        raise ConnectorError(ErrorKind.INVALID_ACCESS, "/: this connector only receives")
