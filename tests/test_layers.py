"""The architecture holds: every outside library (and subprocess) has its owner; no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "podcast_host"

# library -> the modules (relative to podcast_host/; a folder ends in "/") allowed to import it
OWNERS = {
    "boto3": {"storage/s3.py"},
    "botocore": {"storage/s3.py"},
    "mutagen": {"audio/"},
    "pydub": {"audio/"},
    "feedgen": {"feeds/build.py", "feeds/podcast_ns.py"},
    "lxml": {"feeds/podcast_ns.py"},
    "uvicorn": {"server/"},
    "h11": {"server/"},
    "alembic": {"db.py", "migrations/"},
    "PIL": {"artwork.py"},
    "nh3": {"notes.py"},
    "markdown_it": {"notes.py"},
    "webvtt": {"transcripts.py"},
    "srt": {"transcripts.py"},
    "crawlerdetect": {"analytics/clients.py"},
    "ua_parser": {"analytics/clients.py"},
    "maxminddb": {"analytics/geo.py"},
    "apispec": {"web/openapi.py"},
    "httpx": {"fetching/"},
    "defusedxml": {"imports/reader.py"},
    # Outside programs (ffmpeg) are run by the audio pipeline alone.
    "subprocess": {"audio/"},
}
# What only some requests or jobs need, imported inside the functions that use it so that an idle server
# never loads it (tests/test_idle_memory.py runs one), mapped to the modules that may import it at the top:
# podcast_ns.py subclasses feedgen's classes, and Alembic itself loads the migrations.
ON_FIRST_USE = {
    "alembic": {"migrations/"},
    "boto3": {"storage/s3.py"},
    "botocore": {"storage/s3.py"},
    "feedgen": {"feeds/podcast_ns.py"},
    "lxml": {"feeds/podcast_ns.py"},
    "podcast_host.feeds.podcast_ns": set(),
    "PIL": set(),
    "nh3": set(),
    "markdown_it": set(),
    "webvtt": set(),
    "srt": set(),
    "apispec": set(),
    "mutagen": set(),
    "pydub": set(),
    "crawlerdetect": set(),
    "ua_parser": set(),
    "httpx": set(),
    "defusedxml": set(),
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


def _import_time_imports(path: Path) -> set[str]:
    """What importing the module imports: its top-level statements, classes included, not function bodies
    nor `if TYPE_CHECKING:` blocks."""
    names: set[str] = set()
    pending: list[ast.AST] = list(ast.parse(path.read_text(encoding="utf-8")).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        pending.extend(ast.iter_child_nodes(node))
    return names


def _modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PACKAGE)): _imports(p) for p in PACKAGE.rglob("*.py")}


def _uses(imports: set[str], library: str) -> bool:
    return any(name == library or name.startswith(library + ".") for name in imports)


def _among(module: str, modules: set[str]) -> bool:
    return any(module == m or (m.endswith("/") and module.startswith(m)) for m in modules)


def test_each_library_has_one_owner() -> None:
    for module, imports in _modules().items():
        for library, owners in OWNERS.items():
            assert not _uses(imports, library) or _among(module, owners), (
                f"{module} imports {library}; only {owners} may"
            )


def test_what_only_some_requests_need_is_imported_on_first_use() -> None:
    for path in PACKAGE.rglob("*.py"):
        module = str(path.relative_to(PACKAGE))
        imports = _import_time_imports(path)
        for library, allowed in ON_FIRST_USE.items():
            assert not _uses(imports, library) or _among(module, allowed), (
                f"{module} imports {library} when it is imported; import it in the function that needs it"
            )


def test_only_the_web_layer_reads_requests() -> None:
    for module, imports in _modules().items():
        if "flask.request" in imports:
            assert module.startswith("web/"), f"{module} reads Flask's request"


def test_the_domain_does_not_import_the_web_layer() -> None:
    for module, imports in _modules().items():
        if module == "__init__.py" or module.startswith(("web/", "cli/", "server/")):  # entry points
            continue
        assert not any(name.startswith("podcast_host.web") for name in imports), module
        assert not any(name.startswith("podcast_host.cli") for name in imports), module


def _module_name(path: Path) -> str:
    parts = ["podcast_host", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_time_edges(path: Path, modules: set[str]) -> set[str]:
    """The package's own modules that importing `path` imports; `from pkg import sub` counts as `pkg.sub`."""
    edges: set[str] = set()
    for name in _import_time_imports(path):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        edges.add(name)
    # `from podcast_host.web import auth` names both the package and its submodule: keep the submodule.
    return {m for m in edges if m and not any(other.startswith(m + ".") for other in edges)}


def test_no_module_imports_itself_back_at_import_time() -> None:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: _import_time_edges(path, set(paths)) - {name} for name, path in paths.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in trail, "import cycle: " + " -> ".join([*trail[trail.index(name) :], name])
        if name in done:
            return
        for imported in sorted(graph.get(name, ())):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_every_package_is_installed() -> None:
    """pyproject.toml lists the packages by name: a new folder left out would be missing from a wheel."""
    import tomllib

    listed = set(
        tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {_module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert on_disk <= listed, f"add to [tool.setuptools] packages: {sorted(on_disk - listed)}"
