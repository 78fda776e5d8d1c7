"""The host's interfaces inside a component build, with helpers: HTTP requests built from the
common access fields, status codes mapped to error kinds, and logging.

    access = HttpAccess.parse(root, problems, extra=["sha256"])
    response = send(access.request("GET"))
    check_status(response, "GET")
"""

from typing import Iterable, List, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports import http, local, log  # noqa: F401  (re-exported)

from .access import Object, Problems
from .errors import ConnectorError, ErrorKind

#: The access fields every HTTP connector takes (RED's Http connector).
HTTP_FIELDS = ["url", "method", "auth", "disableSSLVerification"]


class HttpAccess:
    """url, method (GET/PUT/POST), auth (username, password, method BASIC/DIGEST) and
    disableSSLVerification, checked with JSON paths."""

    def __init__(self, url: str, method: Optional[str], auth: Optional[http.Credentials], verify_tls: bool):
        self.url = url
        self.method = method
        self.auth = auth
        self.verify_tls = verify_tls

    @classmethod
    def parse(cls, root: Optional[Object], problems: Problems, extra: Iterable[str] = ()) -> "HttpAccess":
        """Checks the common fields of `root`; fields other than those and `extra` are
        reported as unknown. Call `problems.raise_if_any()` before using the result."""
        if root is None:
            return cls("", None, None, True)
        root.only_keys(HTTP_FIELDS + list(extra), problems)
        url = root.required_str("url", problems)
        if url and not url.lower().startswith(("http://", "https://")):
            problems.add(root.path_of("url"), "expected an http:// or https:// URL")
        method = root.choice("method", ["GET", "PUT", "POST"], problems)
        auth = None
        auth_object = root.object("auth", False, problems)
        if auth_object is not None:
            auth_object.only_keys(["username", "password", "method"], problems)
            username = auth_object.required_str("username", problems)
            password = auth_object.required_str("password", problems)
            scheme = auth_object.choice("method", ["BASIC", "DIGEST"], problems) or "BASIC"
            if username and password:
                auth = http.Credentials(username, password, http.AuthScheme[scheme])
        disable = root.optional_bool("disableSSLVerification", problems)
        return cls(url or "", method, auth, not disable)

    def request(self, method: str, headers: List[Tuple[str, str]] = None) -> http.Request:
        """A request for this access's URL (following redirects)."""
        return http.Request(self.method or method, self.url, headers or [], self.auth, self.verify_tls, True)


def send(request: http.Request, body=None) -> http.Response:
    """Sends `request` (with an empty body unless given); a host error keeps its kind."""
    return http.send(request, body if body is not None else http.Body_Empty())


def check_status(response: http.Response, method: str) -> None:
    """Raises for a 4xx or 5xx answer, with the kind its status means."""
    status = response.status()
    if status < 400:
        return
    kind = {401: ErrorKind.AUTH, 403: ErrorKind.AUTH, 407: ErrorKind.AUTH, 404: ErrorKind.NOT_FOUND,
            410: ErrorKind.NOT_FOUND, 409: ErrorKind.CONFLICT, 412: ErrorKind.CONFLICT}.get(status, ErrorKind.REMOTE)
    raise ConnectorError(kind, f"{method} {response.url()} answered {status} {response.reason()}")


def info(message: str) -> None:
    log.log(log.Level.INFO, message)


def warn(message: str) -> None:
    log.log(log.Level.WARN, message)


def debug(message: str) -> None:
    log.log(log.Level.DEBUG, message)


__all__ = ["Err", "HttpAccess", "HTTP_FIELDS", "check_status", "debug", "http", "info", "local", "log", "send", "warn"]
