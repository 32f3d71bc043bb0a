"""Import rules of the architecture, checked on the source: layers stay where they belong."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("protocol", "rules", "transport", "central", "store_agent", "tessera")

PURE_FORBIDDEN = {"central", "store_agent", "transport", "flask", "flask_smorest", "sqlalchemy",
                  "alembic", "psycopg", "paho", "sqlite3", "os", "waitress", "requests"}
"""What ``rules`` and ``protocol`` may not import: no adapters, no I/O, no environment."""

CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"),
               ("date", "today"), ("time", "time"), ("time", "monotonic"),
               ("time", "time_ns"), ("time", "perf_counter")}

ENVIRONMENT_READERS = {"central/settings.py", "store_agent/settings.py",
                       # The demo is the composition root that hands the environment to the
                       # processes it starts (each of which parses it with its settings).
                       "tessera/demo.py"}


def sources(*packages: str) -> list[Path]:
    files = sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))
    assert files, f"no sources found under {packages}"
    return files


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def forbidden_imports(tree: ast.AST, forbidden: set[str]) -> list[str]:
    return [f"line {line}: imports {name}" for line, name in imported_modules(tree)
            if name.split(".")[0] in forbidden]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def clock_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = _dotted(node.func.value).rsplit(".", 1)[-1]
            if (owner, node.func.attr) in CLOCK_CALLS:
                found.append(f"line {node.lineno}: calls {_dotted(node.func)}()")
    return found


def environment_reads(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            found.append(f"line {node.lineno}: reads {_dotted(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            names = {alias.name for alias in node.names} & {"environ", "getenv", "environb"}
            if names:
                found.append(f"line {node.lineno}: imports {', '.join(sorted(names))} from os")
    return found


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# -- the checks can fail ----------------------------------------------------------------------

@pytest.mark.parametrize("source, found", [
    ("import sqlalchemy.orm", ["line 1: imports sqlalchemy.orm"]),
    ("from flask import Flask", ["line 1: imports flask"]),
    ("import os.path", ["line 1: imports os.path"]),
    ("from central.models import Sale", ["line 1: imports central.models"]),
    ("from . import money\nimport decimal", []),
    ("import osmosis", []),
])
def test_the_import_check_finds_what_it_should(source: str, found: list[str]) -> None:
    assert forbidden_imports(ast.parse(source), PURE_FORBIDDEN) == found


@pytest.mark.parametrize("source, count", [
    ("import datetime as dt\ndt.datetime.now(dt.UTC)", 1),
    ("from datetime import datetime\ndatetime.utcnow()", 1),
    ("import datetime\ndatetime.date.today()", 1),
    ("import time\ntime.monotonic()", 1),
    ("def f(now):\n    return now.astimezone()", 0),
])
def test_the_clock_check_finds_what_it_should(source: str, count: int) -> None:
    assert len(clock_reads(ast.parse(source))) == count


@pytest.mark.parametrize("source, count", [
    ("import os\nos.environ['X']", 1),
    ("import os\nos.getenv('X')", 1),
    ("from os import environ", 1),
    ("import os\nos.path.join('a', 'b')", 0),
])
def test_the_environment_check_finds_what_it_should(source: str, count: int) -> None:
    assert len(environment_reads(ast.parse(source))) == count


# -- the rules on the code base ---------------------------------------------------------------

@pytest.mark.parametrize("path", sources("rules", "protocol"), ids=relative)
def test_rules_and_protocol_stay_pure(path: Path) -> None:
    tree = parse(path)
    forbidden = PURE_FORBIDDEN - {"os"} if path.name == "settings.py" else PURE_FORBIDDEN
    problems = forbidden_imports(tree, forbidden) + clock_reads(tree)
    if path.name != "settings.py":
        problems += environment_reads(tree)
    assert not problems, f"{relative(path)}: " + "; ".join(problems)


@pytest.mark.parametrize("package, other", [("central", "store_agent"),
                                            ("store_agent", "central")])
def test_central_and_the_store_agent_never_import_each_other(package: str, other: str) -> None:
    problems = [f"{relative(path)} {problem}" for path in sources(package)
                for problem in forbidden_imports(parse(path), {other})]
    assert not problems


def test_only_the_settings_loaders_read_the_environment() -> None:
    readers = {relative(path): environment_reads(parse(path)) for path in sources(*PACKAGES)}
    offenders = {path: found for path, found in readers.items()
                 if found and path not in ENVIRONMENT_READERS}
    assert not offenders
    # The allowed list stays honest: each entry still exists.
    assert all((ROOT / path).exists() for path in ENVIRONMENT_READERS)
    assert readers["central/settings.py"] and readers["store_agent/settings.py"]

