"""`red-connector-build APP.py -o OUT.wasm` (or `python -m red_connector build ...`): makes
the WebAssembly component of a connector module with componentize-py, against the contract
this package carries."""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def componentize_py() -> str:
    """The componentize-py command beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.exists():
        return str(beside)
    found = shutil.which("componentize-py")
    if not found:
        sys.exit("red-connector-build: componentize-py is not installed (pip install componentize-py==0.25.1)")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="red-connector-build", description=__doc__)
    parser.add_argument("app", help="the connector module, e.g. app.py")
    parser.add_argument("-o", "--output", required=True, help="the component to write (.wasm)")
    args = parser.parse_args(argv)
    app = Path(args.app).resolve()
    if not app.is_file() or app.suffix != ".py":
        parser.error(f"{args.app}: expected a .py file")
    package = Path(__file__).resolve().parent
    command = [
        componentize_py(),
        "-d", str(package / "wit"),
        "-w", "connector-component",
        "componentize", app.stem,
        "-p", str(app.parent),
        "-p", str(package.parent),
        "-o", str(Path(args.output).resolve()),
    ]
    return subprocess.run(command, cwd=app.parent, env=dict(os.environ)).returncode


if __name__ == "__main__":
    sys.exit(main())
