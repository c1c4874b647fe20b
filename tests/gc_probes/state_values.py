"""pytest plugin: every InstanceState is watched; at each GC start, each value of the
states' ``load_path`` / ``load_options`` / ``key`` must have refcount >= its holders among
states (+1 for the strong ref kept here)."""

import gc
import os
import sys
import traceback
import weakref

from sqlalchemy.orm import state as state_mod

LOG = open(os.environ.get("GCPROBE_LOG", "/tmp/gcprobe/log5.txt"), "a", buffering=1)  # noqa: SIM115 (open for the whole run)
STATES = weakref.WeakSet()
KEEP = {}  # id -> object (strong: keeps a victim alive, so it is caught, not crashed on)
NGC = [0]
REPORTED = set()
ATTRS = ("load_path", "load_options", "key", "_instance_dict")

_init = state_mod.InstanceState.__init__


def __init__(self, obj, manager):
    _init(self, obj, manager)
    STATES.add(self)


state_mod.InstanceState.__init__ = __init__


def _ga(s, a):
    try:
        return object.__getattribute__(s, a)
    except AttributeError:
        return None


def check(phase, info):
    if phase != "start":
        return
    NGC[0] += 1
    counts = {}
    for s in list(STATES):
        for a in ATTRS:
            v = _ga(s, a)
            if v is getattr(type(s), a, None):
                continue  # the class default, not the instance's own value
            if (
                v is None
                or type(v).__name__ in ("method", "function")
                or (type(v) is tuple and len(v) == 0)
            ):
                continue
            c = counts.get(id(v))
            if c is None:
                counts[id(v)] = [v, 1, a, s]
            else:
                c[1] += 1
            KEEP.setdefault(id(v), v)
    for k, (v, n, a, _s) in counts.items():
        rc = (
            sys.getrefcount(v) - 3 - (1 if KEEP.get(k) is v else 0)
        )  # counts list, local v, arg, KEEP
        if rc < n and k not in REPORTED:
            REPORTED.add(k)
            LOG.write(
                f"BAD gc#{NGC[0]} gen{info['generation']} attr={a} type={type(v).__name__} rc={rc} holders={n} value={v!r:.200}\n"
            )
            LOG.write("".join(traceback.format_stack(limit=25)) + "\n")
    counts.clear()
    if len(KEEP) > 200000:
        KEEP.clear()
    if NGC[0] % 1000 == 0:
        LOG.write(f"gc#{NGC[0]} states={len(STATES)} keep={len(KEEP)}\n")


gc.callbacks.append(check)
