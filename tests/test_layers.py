"""The architecture holds: each outside library is imported by the one module that owns it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "podcast_host"

# library -> the modules (relative to podcast_host/) allowed to import it
OWNERS = {
    "boto3": {"storage.py"},
    "botocore": {"storage.py"},
    "mutagen": {"audio.py"},
    "pydub": {"audio.py"},
    "feedgen": {"feed.py", "podcast_ns.py"},
    "gunicorn": {"server.py"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): _imports(p) for p in PACKAGE.rglob("*.py")}


def test_each_library_has_one_owner() -> None:
    for module, imports in _modules().items():
        for library, owners in OWNERS.items():
            uses = any(name == library or name.startswith(library + ".") for name in imports)
            assert not uses or module in owners, f"{module} imports {library}; only {owners} may"


def test_only_the_web_layer_reads_requests() -> None:
    for module, imports in _modules().items():
        if "flask.request" in imports:
            assert module.startswith("web/"), f"{module} reads Flask's request"


def test_the_domain_does_not_import_the_web_layer() -> None:
    for module, imports in _modules().items():
        if module.startswith("web/") or module in ("__init__.py", "cli.py"):
            continue
        assert not any(name.startswith("podcast_host.web") for name in imports), module
        assert not any(name.startswith("podcast_host.cli") for name in imports), module
