"""DESIGN.md §4: "a service that writes and may then raise a DomainError is @atomic (a
savepoint)". Views answer a domain error with a redirect, and the redirect commits: without
the savepoint, what the service wrote before it gave up is stored.

A static check over every module that is not a view, a form or demo data. A function breaks
the rule when it is not decorated with ``atomic`` and, textually after a write, it raises an
error of the ``DomainError`` family or calls a function of the package that may raise one;
or when it calls a function that breaks the rule (the callee's half-done write stays).

- A write: ``<…>.session.add/add_all/delete/merge/flush(…)``, ``<…>.session.execute(`` of
  ``insert``/``update``/``delete``, or a call to a function of the package that writes.
- Not a half-done write (the rule's three exceptions):
  - a conditional update whose row count guards the raise (``moved = …execute(update(…)
    .where(… status == before)); if moved.rowcount != 1: raise``): it changed nothing;
  - a write whose result an ``if`` tests, raising in its body (``if not add_unique(row):
    raise``): the write reports it changed nothing;
  - a write inside ``with …begin_nested():`` when the raise is in an ``except`` of the ``try``
    around it: the savepoint rolled the write back.

Calls are resolved by name: a function of the same module, or one imported from the
package (``from marketplace.x import services as x; x.f()``). Methods are not followed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "marketplace"
ERRORS = {"DomainError", "NotFound"}  # and their subclasses, found below
WRITE_METHODS = {"add", "add_all", "delete", "merge", "flush"}
WRITE_STATEMENTS = {"insert", "update", "delete"}

# Functions that write, may then raise and are not atomic, each with why it is safe. Empty:
# every such service is atomic; a new entry needs a reason.
ALLOWED: set[str] = set()


def _skipped(path: Path) -> bool:
    return (
        path.name in ("views.py", "forms.py")
        or path.name.endswith("_views.py")
        or "demo" in path.relative_to(PACKAGE).parts
        or "migrations" in path.relative_to(PACKAGE).parts
    )


@dataclass
class Function:
    module: str
    node: ast.FunctionDef
    imports: dict[str, str]  # local name → dotted name in the package

    @property
    def key(self) -> str:
        return f"{self.module}.{self.node.name}"

    @property
    def atomic(self) -> bool:
        return any(
            (isinstance(d, ast.Name) and d.id == "atomic")
            or (isinstance(d, ast.Attribute) and d.attr == "atomic")
            for d in self.node.decorator_list
        )


@dataclass
class Package:
    functions: dict[str, Function] = field(default_factory=dict)  # the modules checked
    errors: set[str] = field(default_factory=lambda: set(ERRORS))
    # who calls each function, from every module; None: a call outside a top-level function
    callers: dict[str, set[str | None]] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def _imports(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("marketplace"):
            for alias in node.names:
                found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("marketplace"):
                    found[alias.asname or alias.name] = alias.name
    return found


def parse(modules: list[tuple[str, str, bool]]) -> Package:
    """The package from ``(module name, source, checked)``: every module's calls count as
    callers; only checked modules' functions are judged."""
    package = Package()
    trees = [(name, ast.parse(source, name), checked) for name, source, checked in modules]
    for name, tree, checked in trees:
        imports = _imports(tree)
        for node in tree.body:
            if checked and isinstance(node, ast.FunctionDef):
                f = Function(name, node, imports)
                package.functions[f.key] = f
    for name, tree, _checked in trees:
        imports = _imports(tree)
        for top in tree.body:
            caller = f"{name}.{top.name}" if isinstance(top, ast.FunctionDef) else None
            for node in ast.walk(top):
                if isinstance(node, ast.Call) and (callee := _callee(name, imports, node, package)):
                    package.callers.setdefault(callee, set()).add(caller)
    grew = True
    while grew:  # the error classes, wherever they are defined
        grew = False
        for _module, tree, _checked in trees:
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in package.errors
                    and any(_name(base) in package.errors for base in node.bases)
                ):
                    package.errors.add(node.name)
                    grew = True
    return package


def load() -> Package:
    return parse(
        [
            (_module_name(path), path.read_text(encoding="utf-8"), not _skipped(path))
            for path in sorted(PACKAGE.rglob("*.py"))
        ]
    )


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _callee(module: str, imports: dict[str, str], call: ast.Call, package: Package) -> str | None:
    target = call.func
    if isinstance(target, ast.Name):
        local = f"{module}.{target.id}"
        return local if local in package.functions else imports.get(target.id)
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        found = imports.get(target.value.id)
        return f"{found}.{target.attr}" if found else None
    return None


def _statement_kind(node: ast.expr) -> str | None:
    """``update`` for ``update(X).where(…).values(…)``: the call at the root of the chain."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def _session_write(call: ast.Call) -> bool:
    target = call.func
    if not (isinstance(target, ast.Attribute) and _name(target.value) == "session"):
        return False
    if target.attr in WRITE_METHODS:
        return True
    return (
        target.attr == "execute"
        and bool(call.args)
        and _statement_kind(call.args[0]) in WRITE_STATEMENTS
    )


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> Iterator[ast.AST]:
    while node in parents:
        node = parents[node]
        yield node


def _in_savepoint(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.Try | None:
    """The ``try`` whose ``with …begin_nested():`` holds ``node``, if any."""
    inside = False
    for up in _ancestors(node, parents):
        if isinstance(up, ast.With) and any(
            isinstance(item.context_expr, ast.Call)
            and _name(item.context_expr.func) == "begin_nested"
            for item in up.items
        ):
            inside = True
        if inside and isinstance(up, ast.Try):
            return up
    return None


def _branches(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> dict[int, str]:
    """For each ``if`` around ``node``: whether ``node`` is in its body or its else."""
    found: dict[int, str] = {}
    below = node
    for up in _ancestors(node, parents):
        if isinstance(up, ast.If) and below is not up.test:
            found[id(up)] = "body" if below in up.body else "else"
        below = up
    return found


@dataclass(frozen=True)
class Write:
    line: int
    claim: str | None  # ``moved`` in ``moved = db.session.execute(update(…))``
    savepoint: ast.Try | None
    branches: dict[int, str]
    tested_by: tuple[int, str] | None  # an ``if`` testing this write's result, and its branch


@dataclass(frozen=True)
class Raise:
    line: int
    what: str
    guards: frozenset[str]  # names whose ``.rowcount`` an enclosing ``if`` tests
    handler_of: frozenset[int]  # ids of the ``try`` statements whose ``except`` holds it
    branches: dict[int, str]


def _walk(
    f: Function, package: Package, writers: set[str], raisers: set[str]
) -> tuple[list[Write], list[Raise]]:
    parents = _parents(f.node)
    writes: list[Write] = []
    raises: list[Raise] = []
    for node in ast.walk(f.node):
        if isinstance(node, ast.Call):
            callee = _callee(f.module, f.imports, node, package)
            if _session_write(node) or callee in writers:
                parent = parents.get(node)
                claim = None
                if isinstance(parent, ast.Assign) and isinstance(parent.targets[0], ast.Name):
                    claim = parent.targets[0].id
                writes.append(
                    Write(
                        node.lineno,
                        claim,
                        _in_savepoint(node, parents),
                        _branches(node, parents),
                        _tested_by(node, parents),
                    )
                )
            if callee in raisers:
                raises.append(_raise(node, f"calls {callee}", parents))
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if _name(exc) in package.errors:
                raises.append(_raise(node, f"raises {_name(exc)}", parents))
    return writes, raises


def _tested_by(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[int, str] | None:
    """``(if, branch)`` when an ``if`` tests this write's result directly: the branch taken
    when the write reports it did nothing (``if not add_unique(row):`` → its body)."""
    below, negated = node, False
    for up in _ancestors(node, parents):
        if isinstance(up, ast.If) and below is up.test:
            return id(up), "body" if negated else "else"
        if not (isinstance(up, ast.UnaryOp) and isinstance(up.op, ast.Not)):
            return None
        below, negated = up, not negated
    return None


def _raise(node: ast.AST, what: str, parents: dict[ast.AST, ast.AST]) -> Raise:
    guards: set[str] = set()
    handler_of: set[int] = set()
    for up in _ancestors(node, parents):
        if isinstance(up, ast.If):
            guards |= {
                n.value.id
                for n in ast.walk(up.test)
                if isinstance(n, ast.Attribute)
                and n.attr == "rowcount"
                and isinstance(n.value, ast.Name)
            }
        if isinstance(up, ast.ExceptHandler) and isinstance(parents.get(up), ast.Try):
            handler_of.add(id(parents[up]))
    return Raise(
        node.lineno, what, frozenset(guards), frozenset(handler_of), _branches(node, parents)
    )


def _half_done(write: Write, raised: Raise) -> bool:
    if write.line >= raised.line:
        return False
    if any(raised.branches.get(i, side) != side for i, side in write.branches.items()):
        return False  # one branch of an ``if`` writes, the other raises
    if write.claim is not None and write.claim in raised.guards:
        return False  # the conditional update changed nothing
    if (
        write.tested_by is not None
        and raised.branches.get(write.tested_by[0]) == write.tested_by[1]
    ):
        return False  # ``if not add_unique(row): raise``: the refused write left nothing
    return not (write.savepoint is not None and id(write.savepoint) in raised.handler_of)


def _covered(package: Package) -> set[str]:
    """Atomic functions, and private helpers (``_name``) called only from covered functions:
    their caller's savepoint rolls back what they wrote."""
    covered = {key for key, f in package.functions.items() if f.atomic}
    grew = True
    while grew:
        grew = False
        for key, f in package.functions.items():
            callers = package.callers.get(key, set())
            if (
                key not in covered
                and f.node.name.startswith("_")
                and callers
                and all(c in covered for c in callers)
            ):
                covered.add(key)
                grew = True
    return covered


def violations(package: Package) -> dict[str, str]:
    functions = package.functions
    writers: set[str] = set()
    raisers: set[str] = set()
    grew = True
    while grew:  # what writes and what may raise, through calls
        grew = False
        for key, f in functions.items():
            writes, raises = _walk(f, package, writers, raisers)
            if writes and key not in writers:
                writers.add(key)
                grew = True
            if raises and key not in raisers:
                raisers.add(key)
                grew = True
    broken: dict[str, str] = {}
    grew = True
    while grew:
        grew = False
        for key, f in functions.items():
            if f.atomic or key in broken:
                continue
            writes, raises = _walk(f, package, writers, raisers)
            reason = next(
                (
                    f"writes on line {w.line}, then {r.what} on line {r.line}"
                    for r in raises
                    for w in writes
                    if _half_done(w, r)
                ),
                None,
            )
            if reason is None:
                reason = next(
                    (
                        f"calls {callee} (line {node.lineno}), which stores half its work"
                        for node in ast.walk(f.node)
                        if isinstance(node, ast.Call)
                        and (callee := _callee(f.module, f.imports, node, package)) in broken
                    ),
                    None,
                )
            if reason is not None:
                broken[key] = reason
                grew = True
    covered = _covered(package)
    return {key: why for key, why in broken.items() if key not in covered}


@pytest.fixture(scope="module")
def package() -> Package:
    return load()


def test_services_that_write_then_raise_are_atomic(package: Package) -> None:
    found = {
        key: why for key, why in violations(package).items() if key.rsplit(".", 1)[1] not in ALLOWED
    }
    assert not found, "not @atomic, may store half its work:\n" + "\n".join(
        f"  {key}: {why}" for key, why in sorted(found.items())
    )


def test_the_allow_list_is_not_stale(package: Package) -> None:  # once it has entries
    flagged = {key.rsplit(".", 1)[1] for key in violations(package)}
    assert not ALLOWED - flagged, f"allowed but no longer flagged: {sorted(ALLOWED - flagged)}"


SAMPLE = """
from marketplace.db import atomic, db
from marketplace.errors import DomainError


class Refused(DomainError):
    pass


def half(x):
    db.session.add(x)
    raise Refused("no")


@atomic
def whole(x):
    db.session.add(x)
    raise DomainError("no")


def claimed(x):
    moved = db.session.execute(update(X).where(X.status == "a").values(status="b"))
    if moved.rowcount != 1:
        raise DomainError("changed meanwhile")


def savepointed(x):
    try:
        with db.session.begin_nested():
            db.session.add(x)
            db.session.flush()
    except IntegrityError:
        raise DomainError("taken") from None


def inserted_once(x):
    if not add_unique(x):
        raise DomainError("taken")


def inserted_then_refused(x):
    if add_unique(x):
        raise DomainError("kept the row, then refused")


def add_unique(x):
    try:
        with db.session.begin_nested():
            db.session.add(x)
            db.session.flush()
    except IntegrityError:
        return False
    return True


def either(x):
    if x:
        db.session.add(x)
    else:
        raise DomainError("no")


def writes_then_calls(x):
    db.session.add(x)
    claimed(x)


def _helper(x):
    db.session.add(x)
    raise DomainError("no")


@atomic
def covers(x):
    _helper(x)


def _exposed(x):
    db.session.add(x)
    raise DomainError("no")


def calls_exposed(x):
    _exposed(x)
"""


def test_the_rule_on_a_sample() -> None:
    assert set(violations(parse([("sample", SAMPLE, True)]))) == {
        "sample.half",
        "sample.inserted_then_refused",
        "sample.writes_then_calls",
        "sample._exposed",
        "sample.calls_exposed",
    }
