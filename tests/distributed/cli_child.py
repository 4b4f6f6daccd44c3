"""Child: ``neuro continual|pipeline ... --devices D`` run in this process for each D given
(the process starts with the largest D virtual CPU devices); prints the JSON results by D."""

import contextlib
import io
import json
import sys

from neuro.cli import main

if __name__ == "__main__":
    split = sys.argv.index("--")
    counts, argv = sys.argv[1:split], sys.argv[split + 1:]
    results = {}
    for d in counts:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main([*argv, "--devices", d, "--json"])
        if code:
            raise SystemExit(f"neuro {' '.join(argv)} --devices {d} exited with {code}")
        results[d] = json.loads(buffer.getvalue())
    print(json.dumps(results))
