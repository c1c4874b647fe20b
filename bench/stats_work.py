"""The officials' statistics page computed (a period no cache has seen), in process with
Flask's test client, measured by work rather than wall time: this process's CPU and, on
PostgreSQL on this machine, the server backend's CPU for each statement (read from
``/proc/<backend pid>/schedstat``), which a busy machine inflates far less than wall time.

    .venv/bin/python bench/stats_work.py postgresql://postgres@127.0.0.1:5432/bench [--pages 8]
                                         [--statements]

Prints one line per page (wall ms, client CPU ms, statements, backend CPU ms, their sum) and,
with ``--statements``, the last page's statements with their wall and backend CPU ms.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
PASSWORD = "zhuanxing2026"


def backend_cpu_ms(pid: int) -> float:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--statements", action="store_true")
    args = parser.parse_args()
    assert args.url.startswith("postgresql"), "the backend's CPU is PostgreSQL's"
    os.environ.update(DATABASE_URL=args.url, SECRET_KEY=os.environ.get("SECRET_KEY", "bench"))

    from sqlalchemy import event

    from marketplace import create_app
    from marketplace.db import db

    app = create_app()
    client = app.test_client()
    page = client.get("/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    form = {"email": "bench1@bench.demo", "password": PASSWORD}
    if token:
        form["csrf_token"] = token.group(1)
    assert client.post("/login", data=form).status_code == 302, "login refused"
    sent: list[tuple[float, float, str]] = []
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, _cursor: Any, _statement: str, *_args: Any) -> None:
        pid = conn.connection.dbapi_connection.info.backend_pid
        conn.info["bench"] = (pid, time.perf_counter(), backend_cpu_ms(pid))

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        pid, started, cpu = conn.info.pop("bench")
        wall = (time.perf_counter() - started) * 1000
        sent.append((wall, backend_cpu_ms(pid) - cpu, " ".join(statement.split())[:90]))

    first = int(time.time()) % 5000  # periods no earlier run asked for
    for i in range(args.pages):
        sent.clear()
        since = date(2000, 1, 1) + timedelta(days=first + i)
        started, cpu = time.perf_counter(), time.process_time()
        answer = client.get(f"/agency/dashboard?since={since}&until=2099-01-01")
        wall, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
        assert answer.status_code == 200, answer.status_code
        server = sum(s for _w, s, _t in sent)
        print(
            f"page {wall:.0f} ms, client CPU {cpu:.0f} ms, {len(sent)} statements,"
            f" backend CPU {server:.0f} ms, work {cpu + server:.0f} ms"
        )
    if args.statements:
        for wall, server, text in sent:
            print(f"  {wall:7.1f} {server:7.1f}  {text}")


if __name__ == "__main__":
    main()
