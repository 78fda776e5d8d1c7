"""Checking an access document, collecting every problem with its JSON path.

    problems = Problems()
    root = Object.root(doc, problems)
    url = root.required_str("url", problems)
    root.only_keys(["url"], problems)
    problems.raise_if_any()      # ConnectorError(invalid-access, "/url: required")

Pure Python: usable (and testable) outside WebAssembly too.
"""

import json
from typing import Any, Dict, Iterable, List, Optional

from .errors import ConnectorError, ErrorKind


def parse(access: str) -> Any:
    """The access document as Python values; bad JSON is an invalid-access error at `/`."""
    try:
        return json.loads(access)
    except ValueError as e:
        raise ConnectorError(ErrorKind.INVALID_ACCESS, f"/: the access document is not valid JSON: {e}")


class Problems:
    """The problems found so far, one line each: `PATH: message`."""

    def __init__(self) -> None:
        self.lines: List[str] = []

    def add(self, path: str, message: str) -> None:
        """Records a problem at `path` (a JSON pointer; the root is `/`)."""
        self.lines.append(f"{path or '/'}: {message}")

    def __bool__(self) -> bool:
        return bool(self.lines)

    def raise_if_any(self) -> None:
        """Raises one invalid-access error listing every problem, if there is any."""
        if self.lines:
            raise ConnectorError(ErrorKind.INVALID_ACCESS, "\n".join(self.lines))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class Object:
    """A JSON object of the access document, with its path."""

    def __init__(self, path: str, values: Dict[str, Any]) -> None:
        self.path = path
        self.values = values

    @classmethod
    def root(cls, doc: Any, problems: Problems) -> Optional["Object"]:
        """The document's root, which must be an object."""
        if isinstance(doc, dict):
            return cls("", doc)
        problems.add("/", f"expected an object, got {_type_name(doc)}")
        return None

    def path_of(self, key: str) -> str:
        """The JSON path of `key` in this object."""
        return f"{self.path}/{_pointer_token(key)}"

    def has(self, key: str) -> bool:
        return key in self.values

    def _typed(self, key: str, required: bool, expected: str, problems: Problems, check) -> Any:
        if key not in self.values:
            if required:
                problems.add(self.path_of(key), "required")
            return None
        value = self.values[key]
        if not check(value):
            problems.add(self.path_of(key), f"expected {expected}, got {_type_name(value)}")
            return None
        return value

    def required_str(self, key: str, problems: Problems) -> Optional[str]:
        """A required, non-empty string."""
        value = self._typed(key, True, "a string", problems, lambda v: isinstance(v, str))
        if value == "":
            problems.add(self.path_of(key), "must not be empty")
            return None
        return value

    def optional_str(self, key: str, problems: Problems) -> Optional[str]:
        return self._typed(key, False, "a string", problems, lambda v: isinstance(v, str))

    def optional_bool(self, key: str, problems: Problems) -> Optional[bool]:
        return self._typed(key, False, "a boolean", problems, lambda v: isinstance(v, bool))

    def optional_number(self, key: str, problems: Problems) -> Optional[float]:
        """An optional non-negative number."""
        return self._typed(
            key,
            False,
            "a non-negative number",
            problems,
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0,
        )

    def object(self, key: str, required: bool, problems: Problems) -> Optional["Object"]:
        """A nested object."""
        value = self._typed(key, required, "an object", problems, lambda v: isinstance(v, dict))
        return None if value is None else Object(self.path_of(key), value)

    def choice(self, key: str, choices: Iterable[str], problems: Problems) -> Optional[str]:
        """An optional string that must be one of `choices`, in any casing; returned as given
        in `choices`."""
        value = self.optional_str(key, problems)
        if value is None:
            return None
        for choice in choices:
            if value.lower() == choice.lower():
                return choice
        problems.add(self.path_of(key), f"expected one of {', '.join(choices)}, got {value!r}")
        return None

    def only_keys(self, allowed: Iterable[str], problems: Problems) -> None:
        """Reports every key that is not in `allowed`."""
        allowed = set(allowed)
        for key in self.values:
            if key not in allowed:
                problems.add(self.path_of(key), "unknown field")
