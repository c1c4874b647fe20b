"""pytest plugin: every identity map's weakref is watched (strong ref kept) with the states
it was handed to; at every GC start its refcount must cover map + holding states."""

import gc
import os
import sys
import traceback
import weakref

from sqlalchemy.orm import identity

LOG = open(os.environ.get("GCPROBE_LOG", "/tmp/gcprobe/log4.txt"), "a", buffering=1)  # noqa: SIM115 (open for the whole run)
WATCH = {}  # id(wr) -> [wr, WeakSet(states), serial, stack]
SERIAL = [0]
REPORTED = set()
NGC = [0]


def _ga(s):
    try:
        return object.__getattribute__(s, "_instance_dict")
    except AttributeError:
        return None


_init = identity.IdentityMap.__init__


def __init__(self):
    _init(self)
    SERIAL[0] += 1
    WATCH[id(self._wr)] = [
        self._wr,
        weakref.WeakSet(),
        SERIAL[0],
        "".join(traceback.format_stack(limit=12)[:-1]),
    ]


identity.IdentityMap.__init__ = __init__


def _track(self, state):
    w = WATCH.get(id(self._wr))
    if w is not None and w[0] is self._wr:
        w[1].add(state)


_mis = identity.IdentityMap._manage_incoming_state


def _manage_incoming_state(self, state):
    _mis(self, state)
    _track(self, state)


identity.IdentityMap._manage_incoming_state = _manage_incoming_state

_au = identity._WeakInstanceDict._add_unpresent


def _add_unpresent(self, state, key):
    _au(self, state, key)
    _track(self, state)


identity._WeakInstanceDict._add_unpresent = _add_unpresent


def check(phase, info):
    if phase != "start":
        return
    NGC[0] += 1
    dead = []
    for k, entry in list(WATCH.items()):
        wr, ws, serial, stack = entry
        alive_map = wr() is not None
        holders = sum(1 for s in list(ws) if _ga(s) is wr) + (1 if alive_map else 0)
        if holders == 0:
            dead.append(k)
            continue
        rc = sys.getrefcount(wr) - 3  # WATCH list, local, arg
        if rc < holders and k not in REPORTED:
            REPORTED.add(k)
            LOG.write(
                f"BAD at gc#{NGC[0]} gen{info['generation']} map#{serial}/{SERIAL[0]} alive={alive_map} rc={rc} holders={holders}\n"
            )
            for s in list(ws):
                if _ga(s) is wr:
                    LOG.write(
                        f"   holder {type(s.obj()).__name__} key={s.key} session_id={s.session_id} detached?\n"
                    )
            LOG.write(
                "map made at:\n"
                + stack
                + "\nnow:\n"
                + "".join(traceback.format_stack(limit=30))
                + "\n"
            )
        del entry, wr
    for k in dead:
        del WATCH[k]
    if NGC[0] % 2000 == 0:
        LOG.write(f"gc#{NGC[0]} watching {len(WATCH)} maps, made {SERIAL[0]}\n")


gc.callbacks.append(check)
