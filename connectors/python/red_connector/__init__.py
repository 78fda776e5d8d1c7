"""Write RED connectors in Python for red-wasm.

A connector module defines its class with `@connector(...)` and exposes `Connector`, the
export that componentize-py looks for:

    from red_connector import Connector, connector, ConnectorError, ErrorKind

    @connector(name="mine", version="0.1.0", description="...")
    class Mine:
        def validate(self, access: dict, direction: str) -> None: ...
        def receive(self, access: dict, target) -> None: ...
        def send(self, access: dict, source) -> None: ...

Build it with `red-connector-build app.py -o mine.wasm`. The host interfaces are in
`red_connector.host` (http, log, local) inside a component build; `red_connector.access` and
`red_connector.errors` are plain Python.
"""

from .access import Object, Problems, parse
from .errors import ConnectorError, ErrorKind

__all__ = ["ConnectorError", "ErrorKind", "Object", "Problems", "parse", "connector"]

_registered = None


def connector(name: str, version: str, description: str, schema: dict = None):
    """Registers the decorated class as this component's connector."""

    def register(cls):
        global _registered
        _registered = (cls, {"name": name, "version": version, "description": description,
                             "schema": schema or {"type": "object"}})
        return cls

    return register


def registered():
    """The registered class and its info (for the export)."""
    if _registered is None:
        raise ConnectorError(ErrorKind.INTERNAL, "no class was registered with @red_connector.connector")
    return _registered


try:
    # Inside a component build (componentize-py generates `wit_world`): the export.
    from .component import Connector  # noqa: F401

    __all__.append("Connector")
except ModuleNotFoundError as missing:
    # Outside a component build: the generated bindings are not there.
    if missing.name not in ("wit_world", "componentize_py_types"):
        raise
