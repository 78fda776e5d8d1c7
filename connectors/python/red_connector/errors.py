"""Errors with the contract's kinds. Raise `ConnectorError(kind, message)` anywhere in a
connector; red-wasm maps the kind to its exit code. Any other exception becomes an
`internal` error carrying its Python traceback."""

from enum import Enum


class ErrorKind(Enum):
    """What went wrong (the contract's `error-kind`, in the same order)."""

    INVALID_ACCESS = 0
    AUTH = 1
    NOT_FOUND = 2
    CONFLICT = 3
    DENIED = 4
    NETWORK = 5
    REMOTE = 6
    LOCAL_IO = 7
    INTERNAL = 8


class ConnectorError(Exception):
    """A failure of `kind`, with a message that names the field, URL or host at fault."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        return f"{self.kind.name.lower().replace('_', '-')}: {self.message}"
