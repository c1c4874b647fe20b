"""Where a scenario's CPU goes: runs ``bench/run.py`` for one scenario and, while the
scenario runs, reads from ``/proc`` the CPU time of the gunicorn workers, of the PostgreSQL
server's processes and of the bench's own client, then prints each as cores busy and as
milliseconds per request.

    .venv/bin/python bench/cpu_split.py DATABASE_URL [--only search] [--port 5333]

Linux only. The scenario's throughput comes from run.py's table (printed too); the window read
starts a few seconds into the scenario, after the minimal page and the scenario's set-up, and
lasts ``--window`` seconds. Run it on a quiet machine: anything else on it is counted as
"other".
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> dict[str, float]:
    """CPU time (user and system) of every process, summed by kind."""
    found = {"gunicorn": 0.0, "postgres": 0.0, "client": 0.0, "other": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / TICK
        if command.startswith("postgres"):
            kind = "postgres"
        elif "gunicorn" in command:
            kind = "gunicorn"
        elif "bench/run.py" in command:
            kind = "client"
        else:
            kind = "other"
        found[kind] += used
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--only", default="search", help="one scenario of bench/run.py")
    parser.add_argument("--port", default="5333")
    parser.add_argument("--seconds", type=float, default=15.0, help="the scenario's length")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of CPU read")
    args = parser.parse_args()
    command = [sys.executable, "bench/run.py", args.url, "--only", args.only]
    run = subprocess.Popen(
        [*command, "--seconds", str(args.seconds), "--port", args.port],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # the minimal page runs first for as long as the scenario, then the scenario's set-up
    time.sleep(args.seconds + 4)
    before, started = cpu_seconds(), time.monotonic()
    time.sleep(args.window)
    after, elapsed = cpu_seconds(), time.monotonic() - started
    output = run.communicate()[0]
    rows = [line for line in output.splitlines() if line.startswith("| ") and "---" not in line]
    print("\n".join(rows))
    served = [line for line in rows if not line.startswith(("| scenario", "| minimal"))]
    rate = float(served[-1].split("|")[2]) if served else 0.0
    for kind in before:
        cores = (after[kind] - before[kind]) / elapsed
        per_request = f"{cores * 1000 / rate:6.2f} ms a request" if rate else ""
        print(f"{kind:9} {cores:5.2f} cores  {per_request}")
    if re.search(r"Traceback", output):
        print(output, file=sys.stderr)


if __name__ == "__main__":
    main()
