"""Imports only go down (DESIGN.md, Layout and layers).

services -> devices -> (protocols, transports) -> core. protocols/ and transports/
never import each other; core/ imports no other layer. Read from the source with
`ast`, so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "solarstack"

# layer -> layers it must never import
FORBIDDEN = {
    "core": {"protocols", "transports", "devices", "services", "sim", "cli", "oneshot", "dev", "soak"},
    "protocols": {"transports", "devices", "services", "sim", "cli", "oneshot", "dev"},
    "transports": {"protocols", "devices", "services", "sim", "cli", "oneshot", "dev"},
    "devices": {"services", "sim", "cli", "oneshot", "dev"},
    "services": {"sim", "cli", "oneshot", "dev", "soak"},
    "sim": {"services", "soak"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "solarstack" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_only_go_down(layer: str) -> None:
    files = sorted((SRC / layer).rglob("*.py"))
    assert files, f"layer {layer} has no modules"
    bad = [
        f"{p.relative_to(SRC)} imports solarstack.{m}" for p in files for m in sorted(_imports(p) & FORBIDDEN[layer])
    ]
    assert not bad, "\n".join(bad)


def test_nothing_reads_the_environment_at_import_time() -> None:
    """os.environ / os.getenv only inside functions: config is built once, at start-up."""
    offenders = []
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:  # module level statements only
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            src = ast.unparse(node)
            if "os.environ" in src or "os.getenv" in src or "getenv(" in src:
                offenders.append(f"{path.relative_to(SRC)}: {src[:80]}")
    assert not offenders, "\n".join(offenders)


def _named_modules(path: Path) -> set[str]:
    """Modules named in strings (`importlib.import_module("solarstack.protocols.pi30")`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("solarstack."):
            found.add(node.value.split(".")[1])
    return found


def test_the_web_imports_no_protocol_or_device() -> None:
    """The web learns what a device reports and accepts from its catalogue (core/catalog.py)
    only: a protocol or device import under services/web would be a second allow-list."""
    files = sorted((SRC / "services" / "web").rglob("*.py"))
    assert files
    bad = [
        f"{p.relative_to(SRC)} imports solarstack.{m}"
        for p in files
        for m in sorted((_imports(p) | _named_modules(p)) & {"protocols", "devices"})
    ]
    assert not bad, "\n".join(bad)


def _full_imports(path: Path) -> set[str]:
    """Every solarstack module a file imports, in full (`solarstack.devices.registry`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("solarstack.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("solarstack."):
            found.add(node.module)
    return found


#: What a reader service may know of the device layer: the interface and the registry.
READER_MAY_IMPORT = {"solarstack.devices", "solarstack.devices.base", "solarstack.devices.registry"}


@pytest.mark.parametrize("service", ["inverter", "bms", "house", "weather"])
def test_reader_services_name_no_protocol(service: str) -> None:
    """A new protocol family plugs in as a codec, a device class and a registry row: the reader
    services open devices through devices/registry.py and ask them what to poll (issue 9)."""
    files = [*sorted((SRC / "services" / service).rglob("*.py")), SRC / "services" / "wiring.py"]
    bad = [
        f"{p.relative_to(SRC)} imports {m}"
        for p in files
        for m in sorted(_full_imports(p))
        if m.startswith(("solarstack.protocols", "solarstack.devices")) and m not in READER_MAY_IMPORT
    ]
    assert not bad, "\n".join(bad)
