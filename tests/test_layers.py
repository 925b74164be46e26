"""Every import arrow points down: no module imports one of a layer above it (docs/design.md, Shape)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Lowest first; a module may import its own layer and those below. Modules not named here are above them all.
LAYERS = [
    {"data_contracts"},
    {
        "dashboard.store",
        "dashboard.filters",
        "dashboard.dimensions",
        "dashboard.pages",
        "dashboard.stats",
        "dashboard.exports",
        "dashboard.identity",
    },
    {"dashboard.loaders"},
    {"dashboard.quarantine"},
    {"dashboard.ingest", "dashboard.synthetic"},
    {"dashboard.metrics"},
    # What turns figures into what a person is shown, and the command line; only dashboard.ui and the app above.
    {
        "dashboard.access",
        "dashboard.audit",
        "dashboard.sample",
        "dashboard.gate",
        "dashboard.meaning",
        "dashboard.wording",
        "dashboard.charts",
        "dashboard.presenter",
        "dashboard.report",
        "dashboard.cases",
        "dashboard.meetings",
        "dashboard.media",
        "dashboard.cli",
        "dashboard.server",
    },
]
KNOWN_UPWARD: set[tuple[str, str]] = set()  # none left (Dataset.episodes went with issue 14)


def _layer(module: str) -> int:
    for level, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return level
    return len(LAYERS)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):  # function-level imports count too
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
            if node.module != "dashboard":  # `from dashboard import store` imports dashboard.store, not the package
                found.add(node.module)
    return found


def test_no_module_imports_a_higher_layer():
    upward = []
    for path in [*ROOT.glob("data_contracts/**/*.py"), *ROOT.glob("dashboard/**/*.py")]:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for imported in _imports(path):
            own = imported.split(".")[0] in ("dashboard", "data_contracts")
            known = any(module == m and imported.startswith(i) for m, i in KNOWN_UPWARD)
            if own and _layer(imported) > _layer(module) and not known:
                upward.append(f"{module} -> {imported}")
    assert upward == []


def test_the_pure_core_never_imports_streamlit():
    core = [*ROOT.glob("data_contracts/**/*.py"), *ROOT.glob("dashboard/metrics/*.py")]
    core += [
        ROOT / "dashboard" / f"{name}.py"
        for name in (
            "store",
            "loaders",
            "quarantine",
            "ingest",
            "stats",
            "filters",
            "dimensions",
            "pages",
            "access",
            "gate",
            "meaning",
            "charts",
            "presenter",
            "report",
            "synthetic",
        )
    ]
    assert [str(p) for p in core if any(i.split(".")[0] == "streamlit" for i in _imports(p))] == []


def test_pages_read_no_database_and_touch_no_file():
    """Pages stay thin: figures reach them through dashboard.ui (cached per data version), never from the store."""
    forbidden = ("sqlalchemy", "dashboard.store", "dashboard.loaders", "dashboard.ingest", "dashboard.quarantine")
    scripts = [*ROOT.glob("pages/*.py"), ROOT / "streamlit_app.py"]
    reads = {
        str(p.relative_to(ROOT)): sorted(i for i in _imports(p) if i.startswith(forbidden) or i in ("os", "pathlib"))
        for p in scripts
    }
    assert {p: i for p, i in reads.items() if i} == {}
