"""Layering: which parts of correlator may import which, read from the sources with `ast`."""

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("correlator.app", "correlator.engine_service", "correlator.engine_feed", "correlator.api",
           "correlator.ingest", "correlator.store", "correlator.engine", "correlator.learning", "correlator.ml")


@dataclass(frozen=True)
class Rule:
    name: str
    importers: tuple[str, ...]  # the modules (or packages) the rule holds for
    forbidden: str  # what they must not import...
    allowed: tuple[str, ...] = ()  # ...but for these


RULES = [
    Rule("config is a leaf", ("correlator.config",), "correlator",
         allowed=("correlator.units", "correlator.domain", "correlator.shipped")),
    Rule("the runtime leaves the offline tools out", RUNTIME, "correlator.offline"),
]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((ROOT / "correlator").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module or name) of every import, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            # `from correlator import wiring` imports the module correlator.wiring
            found += [(node.lineno, f"{node.module}.{alias.name}" if node.module == "correlator" else node.module)
                      for alias in node.names]
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_imports_point_down_the_layers(rule):
    modules = _modules()
    for importer in rule.importers:
        assert any(_within(module, importer) for module in modules), f"{rule.name}: no module {importer}"
    broken = [f"{module} imports {name} (line {line})"
              for module, path in modules.items() if any(_within(module, importer) for importer in rule.importers)
              for line, name in _imports(path)
              if _within(name, rule.forbidden) and not any(_within(name, allowed) for allowed in rule.allowed)]
    assert not broken, f"{rule.name}: " + "; ".join(broken)


def test_importing_the_daemon_loads_no_offline_tool():
    script = "import sys, correlator.app; print(sorted(m for m in sys.modules if m.startswith('correlator.offline')))"
    loaded = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
