"""Module docstrings name files that exist (STYLE.md: "A docstring names a file that exists").

Every module docstring under src/ is scanned for file references — `core/topics.py`,
`tests/bms/bms_frames.py`, `docs/services.md`, `prometheus/prometheus.yml`, a bare
`codec.py` — and each must resolve: from the module's own package upwards, from
src/solarstack/, or from the repository root. A path written right after a repository
name (`syssi/esphome-jk-bms docs/…`) is in that repository and not checked. Paths of one
machine (/home/…, /work/…, /tmp/…) have no place in a docstring at all.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "solarstack"
# The project's design contract, style guide and protocol notes, kept beside the checkout (not in it).
OUTSIDE_THE_CHECKOUT = {"DESIGN.md", "STYLE.md", "PROTOCOLS.md"}

_EXT = r"(?:py|md|ya?ml|sh|toml|json|template|conf|txt|js|css|html|service)"
_NOT_BEFORE = r"(?<![\w/.:<>{}*@-])"  # not inside a URL, a placeholder (<name>) or a longer path
_NOT_AFTER = r"(?![\w<>{}*])"
PATH = re.compile(
    _NOT_BEFORE + rf"((?:[\w.-]+/)+[\w.-]*\.{_EXT}|(?:tests|docs)/[\w./-]*\w|[\w-]+\.{_EXT})" + _NOT_AFTER
)
REPOSITORY_BEFORE = re.compile(r"\b[\w-]+/[\w.-]+\s+$")  # `owner/name ` just before the path
MACHINE = re.compile(r"(?<![\w.])/(?:home|root|work|tmp|Users)/\S*")


def module_docstrings() -> list[tuple[Path, str]]:
    return [(p, ast.get_docstring(ast.parse(p.read_text())) or "") for p in sorted(SRC.rglob("*.py"))]


def resolves(module: Path, ref: str) -> bool:
    if ref in OUTSIDE_THE_CHECKOUT:
        return True
    package_dirs = [d for d in [module.parent, *module.parent.parents] if d == SRC or SRC in d.parents]
    return any((base / ref).exists() for base in (*package_dirs, ROOT / "src", ROOT))


def references(doc: str) -> list[str]:
    return [m.group(1) for m in PATH.finditer(doc) if not REPOSITORY_BEFORE.search(doc[: m.start()])]


def test_docstring_file_references_exist() -> None:
    stale = [
        f"{module.relative_to(ROOT)}: {ref}"
        for module, doc in module_docstrings()
        for ref in references(doc)
        if not resolves(module, ref)
    ]
    assert not stale, "module docstrings name files that do not exist:\n" + "\n".join(stale)


def test_no_machine_paths_in_docstrings() -> None:
    found = [f"{m.relative_to(ROOT)}: {p}" for m, doc in module_docstrings() for p in MACHINE.findall(doc)]
    assert not found, "\n".join(found)


def test_the_scan_finds_references_and_catches_a_stale_one() -> None:
    """The checks mean something: the reference forms above are found, a renamed file is not resolved."""
    doc = (
        "Built from core/topics.py and codec.py (recorded: tests/bms/bms_frames.py, see docs/services.md);\n"
        "as syssi/esphome-jk-bms docs/pb2a16s20p/ stores it; services/<name>/Dockerfile; https://x.org/a/b.py"
    )
    assert references(doc) == ["core/topics.py", "codec.py", "tests/bms/bms_frames.py", "docs/services.md"]
    module = SRC / "protocols" / "pi30" / "framing.py"
    assert all(resolves(module, ref) for ref in references(doc))
    assert not resolves(module, "tests/bms/frames.py")
    assert MACHINE.findall("see /work/main/src/x.py or /dev/ttyUSB0") == ["/work/main/src/x.py"]
