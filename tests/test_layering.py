"""The packages import only down the layers: every module under correlator/ is parsed with `ast`
(nothing is imported), and each import it makes anywhere (at the top, in a function, relative)
is checked against the rules below. A rule is one line: the modules it binds, the imports they
must not make, the exceptions, and why."""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "correlator"
RUNTIME = ("correlator.app", "correlator.engine_service", "correlator.engine_feed", "correlator.api",
           "correlator.ingest", "correlator.store", "correlator.engine", "correlator.learning", "correlator.ml")


@dataclass(frozen=True)
class Rule:
    modules: str  # a module and everything under it
    never: tuple[str, ...]  # imports it must not make (each a module and everything under it)
    why: str
    unless: tuple[str, ...] = ()  # imports under `never` it may make all the same
    besides: tuple[str, ...] = ()  # modules under `modules` the rule does not bind


RULES = [
    Rule("correlator.domain", ("correlator",), "the vocabulary is the bottom layer",
         unless=("correlator.domain", "correlator.units")),
    Rule("correlator.store", ("correlator.engine", "correlator.api", "correlator.app", "correlator.config"),
         "the store keeps what the engine decided, in domain terms"),
    Rule("correlator.engine", ("correlator.store", "correlator.api", "correlator.app", "correlator.config", "aiohttp",
                               "sqlalchemy"), "the engine is a pure core: no I/O, no configuration files"),
    Rule("correlator.api", ("correlator.engine.model",), "the api speaks the domain's vocabulary"),
    Rule("correlator.config", ("correlator",), "config is a leaf: wiring.py builds runtime objects from it",
         unless=("correlator.config", "correlator.units", "correlator.domain", "correlator.shipped")),
    Rule("correlator", ("correlator.api",), "the HTTP API is an edge: only the app wires it",
         besides=("correlator.api", "correlator.app")),
    *(Rule(runtime, ("correlator.offline",), "the runtime leaves the offline tools out")
      for runtime in RUNTIME),
]


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def imports_of(source: str, module: str, is_package: bool = False) -> list[tuple[str, int]]:
    """Every module `source` imports, with its line: for `from a import b`, both `a` and `a.b`
    (b may be a submodule). Relative imports are resolved against `module`."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return found


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def violations(rule: Rule) -> list[str]:
    """One message per offending import statement, naming the module it imports."""
    broken: dict[tuple[str, Path, int], str] = {}
    for module, path in _modules():
        if not _under(module, rule.modules) or any(_under(module, other) for other in rule.besides):
            continue
        for name, line in imports_of(path.read_text(), module, path.name == "__init__.py"):
            if any(_under(name, never) for never in rule.never) and not any(_under(name, ok) for ok in rule.unless):
                broken[module, path, line] = min(broken.get((module, path, line), name), name, key=len)
    return [f"{module} imports {name} ({path.relative_to(PACKAGE.parent)}:{line}): {rule.why}"
            for (module, path, line), name in sorted(broken.items())]


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.modules)
def test_package_imports_only_what_its_layer_allows(rule):
    broken = violations(rule)
    assert not broken, "\n".join(broken)


def test_imports_are_found_in_functions_relative_and_as_submodules():
    source = "import aiohttp.web\nfrom . import model\ndef f():\n    from ..store.schema import incidents\n"
    assert imports_of(source, "correlator.engine.core") == [
        ("aiohttp.web", 1), ("correlator.engine", 2), ("correlator.engine.model", 2),
        ("correlator.store.schema", 4), ("correlator.store.schema.incidents", 4)]


def test_importing_the_daemon_loads_no_offline_tool():
    script = "import sys, correlator.app; print(sorted(m for m in sys.modules if m.startswith('correlator.offline')))"
    loaded = subprocess.run([sys.executable, "-c", script], cwd=PACKAGE.parent, capture_output=True, text=True,
                            check=True)
    assert loaded.stdout.strip() == "[]"
