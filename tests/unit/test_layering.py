"""The house's floors (DESIGN.md): a domain imports only the domains below it, and no domain
reads another's tables by name. Core modules import no domain at all."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "marketplace"

# Lowest first; a module may import its own floor and the ones below.
FLOORS = [
    "accounts",
    "pool",
    "catalog",
    "payments",
    "diagnosis",
    "vouchers",
    "orders",
    "outcomes",
    "oversight",
    "api",
    "home",
]
# What wires the floors together: the app factory, the model registry, the CLI, the demo data.
ABOVE_ALL = {"__init__", "models", "cli", "tasks", "demo", "errors_views"}


def _modules() -> list[Path]:
    """The package's code; its migrations (the schema's history, which names tables by
    design) are not part of any floor."""
    return [
        p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.relative_to(PACKAGE).parts
    ]


def _floor(module: str) -> int | None:
    """-1 for core, the index of FLOORS for a domain, None for the wiring."""
    parts = module.split(".")
    if parts[0] != "marketplace" or len(parts) == 1:
        return None
    if parts[1] in ABOVE_ALL:
        return None
    return FLOORS.index(parts[1]) if parts[1] in FLOORS else -1


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
            # ``from marketplace.vouchers import spending`` names modules, not attributes
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return found


def test_no_domain_imports_a_higher_one():
    wrong = []
    for path in _modules():
        module = ".".join(("marketplace", *path.relative_to(PACKAGE).with_suffix("").parts))
        own = _floor(module)
        if own is None:
            continue
        for line, target in _imports(path):
            floor = _floor(target)
            if floor is not None and floor > own:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_table_is_read_by_name():
    """``sqlalchemy.table("diagnoses", ...)`` would read another domain's table past its
    services; models and services are the only way in. The one exception is the catalogue's
    full-text index, each database's own kind of table that no model can describe, named
    only by the module that owns it."""
    wrong = []
    for path in _modules():
        if path.relative_to(PACKAGE).as_posix() == "catalog/search_index.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "table":
                wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not wrong, wrong
