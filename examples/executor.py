#!/usr/bin/env python3
"""An executor in Python driving red-wasm through --json: receives a list of inputs
concurrently, one `red-wasm run ... --json` process each, and reports each outcome from the
result documents (schema in the README, "Machine-readable output").

    python3 examples/executor.py inputs.json --jobs 8

inputs.json: [{"connector": "http", "access": {...}, "path": "a.csv"}, ...]
"""
import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor


RED_WASM = "red-wasm"


def receive(item):
    command = [RED_WASM, "run", item["connector"], json.dumps(item["access"]),
               "-o", item["path"], "--json"]
    done = subprocess.run(command, capture_output=True, text=True)
    result = json.loads(done.stdout)
    return item["path"], result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs")
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--red-wasm", default="red-wasm", help="the red-wasm command")
    args = parser.parse_args()
    global RED_WASM
    RED_WASM = args.red_wasm
    with open(args.inputs) as f:
        items = json.load(f)
    failed = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for path, result in pool.map(receive, items):
            if result["outcome"] == "succeeded":
                print(f"ok      {path} ({result['bytes']} bytes in {result['duration_ms']:.1f} ms)")
            else:
                failed += 1
                error = result["error"]
                print(f"failed  {path} ({error['kind']}: {error['message']})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
