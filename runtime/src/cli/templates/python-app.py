"""{{NAME}}: a RED connector for red-wasm, written in Python.

Access document: the fields of RED's Http connector (url, method, auth,
disableSSLVerification). Receive downloads `url`; send uploads the local file to it (PUT
unless `method` says otherwise). Start from here: add your own fields to FIELDS and read them
from `access`.

Build: python3 -m red_connector build app.py -o {{NAME}}.wasm
"""

from red_connector import Connector, Object, Problems, connector  # noqa: F401  (Connector is the export)
from red_connector.host import HttpAccess, check_status, http, info, send

FIELDS = []


def checked(doc: dict) -> HttpAccess:
    problems = Problems()
    access = HttpAccess.parse(Object.root(doc, problems), problems, extra=FIELDS)
    problems.raise_if_any()
    return access


@connector(name="{{NAME}}", version="0.1.0", description="{{NAME}}: an HTTP connector made with red-wasm new")
class Main:
    def validate(self, access: dict, direction: str) -> None:
        checked(access)

    def receive(self, access: dict, target) -> None:
        response = send(checked(access).request("GET"))
        check_status(response, "GET")
        # The host streams the body into the file: the bytes never cross into the connector.
        info(f"received {response.copy_to_sink(target)} bytes")

    def send(self, access: dict, source) -> None:
        request = checked(access).request("PUT")
        response = send(request, http.Body_FromSource(source))
        check_status(response, request.method)
