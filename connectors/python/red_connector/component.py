"""The export componentize-py builds the component from: it parses the access document,
calls the registered connector class, and turns every exception into the contract's error
(a `ConnectorError` keeps its kind; anything else is `internal`, with its traceback)."""

import json
import traceback

from componentize_py_types import Err
from wit_world.exports import connector as wit_connector
from wit_world.imports import types as wit_types

from . import registered
from .access import parse
from .errors import ConnectorError, ErrorKind


def _error(kind: ErrorKind, message: str) -> Err:
    return Err(wit_types.Error(wit_types.ErrorKind(kind.value), message))


def _guarded(call):
    try:
        return call()
    except Err:
        raise
    except ConnectorError as e:
        raise _error(e.kind, e.message)
    except Exception:
        raise _error(ErrorKind.INTERNAL, "the connector raised an exception:\n" + traceback.format_exc())


def _instance():
    cls, _ = registered()
    return cls()


class Connector:
    """red:connector/connector, implemented by the registered class."""

    def info(self):
        _, info = registered()
        return wit_connector.ConnectorInfo(
            info["name"], info["version"], info["description"], json.dumps(info["schema"])
        )

    def validate_receive(self, access: str) -> None:
        _guarded(lambda: _instance().validate(parse(access), "receive"))

    def validate_send(self, access: str) -> None:
        _guarded(lambda: _instance().validate(parse(access), "send"))

    def receive(self, access: str, target) -> None:
        def run():
            instance, doc = _instance(), parse(access)
            instance.validate(doc, "receive")
            instance.receive(doc, target)

        _guarded(run)

    def send(self, access: str, source) -> None:
        def run():
            instance, doc = _instance(), parse(access)
            instance.validate(doc, "send")
            instance.send(doc, source)

        _guarded(run)
