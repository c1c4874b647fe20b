"""pytest plugin (CPython 3.11 only, run with PYTHONMALLOC=debug): before Session.expunge_all
detaches its states, each InstanceState whose ``__dict__`` is materialized as a split dict is
checked for a freed values array (the debug allocator fills freed memory with 0xDD; the byte
before the values is their prefix size, a small number while they are alive). A hit is logged
(GCPROBE_LOG) with the request and the process exits with status 3; every call is logged
(request, number of states), so the last line before a segfault names the request.

3.11 layout: a managed-dict object keeps its dict pointer 3 words before the object (values 4
words before); PyDictObject.ma_values is at offset 40."""

import ctypes
import os
import traceback

import werkzeug.test
from sqlalchemy.orm import state as state_mod

LOG = open(os.environ.get("GCPROBE_LOG", "/tmp/gcprobe/freed_values.txt"), "a", buffering=1)  # noqa: SIM115 (open for the whole run)
WORD = ctypes.sizeof(ctypes.c_void_p)


def freed_values(state: object) -> str | None:
    d = ctypes.c_void_p.from_address(id(state) - 3 * WORD).value
    if not d:
        return None
    values = ctypes.c_void_p.from_address(d + 40).value
    if not values:
        return None
    prefix = ctypes.c_ubyte.from_address(values - 1).value
    return f"dict {d:#x} values {values:#x} prefix {prefix:#x}" if prefix == 0xDD else None


URL = ["-"]
_open = werkzeug.test.Client.open


def open_(self, *args, **kwargs):
    URL[0] = f"{kwargs.get('method', 'GET')} {args[0] if args else ''}"
    return _open(self, *args, **kwargs)


werkzeug.test.Client.open = open_

_detach = state_mod.InstanceState._detach_states.__func__


def _detach_states(cls, states, session, to_transient=False):
    LOG.write(f"detach ({URL[0]}) {len(states)} states\n")
    for state in states:
        bad = freed_values(state)
        if bad:
            LOG.write(f"#### ({URL[0]}): {state.class_.__name__} {state.key!r}: {bad}\n")
            LOG.write("".join(traceback.format_stack(limit=25)[:-1]))
            os._exit(3)
    return _detach(cls, states, session, to_transient)


state_mod.InstanceState._detach_states = classmethod(_detach_states)
