"""state_values probe; requests numbered; GC every 5 allocations from request LOW_FROM on."""

import gc
import os

import state_values as gcprobe5
import werkzeug.test

_open = werkzeug.test.Client.open
N = [0]
LOW_FROM = int(os.environ.get("LOW_FROM", "1000000"))


def open_(self, *a, **kw):
    N[0] += 1
    url = str(a[0]) if a else ""
    low = N[0] >= LOW_FROM
    gcprobe5.LOG.write(f"==== #{N[0]} {url} low={low}\n")
    if low:
        old = gc.get_threshold()
        gc.set_threshold(5, 1, 1)
    try:
        return _open(self, *a, **kw)
    finally:
        if low:
            gc.set_threshold(*old)
        gcprobe5.LOG.write(f"==== end #{N[0]}\n")


werkzeug.test.Client.open = open_
