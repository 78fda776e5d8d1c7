"""`python -m red_connector build APP.py -o OUT.wasm`."""

import sys

from .build import main

if len(sys.argv) > 1 and sys.argv[1] == "build":
    sys.exit(main(sys.argv[2:]))
sys.exit("usage: python -m red_connector build APP.py -o OUT.wasm")
