"""The package's layers are its folders, and no import runs back up (docs/architecture.md).

Every ``import`` in every module counts, the ones inside functions too (a lazy import is still a
dependency). Pure Python: parses the source, imports nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tfprof_m1"

#: Bottom to top. A module may import its own layer and the layers below it, never one above.
LAYERS = ("base", "trace", "workloads", "collection", "report", "analysis", "views", "run", "cli")

#: The one import that runs up, on purpose: Jupyter shows a Report by calling its ``_repr_markdown_``,
#: which must render it; the import is inside that method, so the report layer loads no view.
ALLOWED_UPWARD = {("report.model", "views.render")}


def _layer(module: str) -> str:
    """``collection.loop`` -> ``collection``; top-level modules (cli, __main__, __init__) are ``cli``."""
    first = module.split(".")[0]
    return first if first in LAYERS else "cli"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).with_suffix("")
        parts = [part for part in relative.parts if part != "__init__"]
        found[".".join(parts) or "__init__"] = path
    return found


def _imports(path: Path) -> set[str]:
    """Package modules ``path`` imports (``tfprof_m1.`` stripped), wherever the import statement is."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfprof_m1."):
            names.add(node.module.removeprefix("tfprof_m1."))
        elif isinstance(node, ast.Import):
            names.update(
                alias.name.removeprefix("tfprof_m1.")
                for alias in node.names
                if alias.name.startswith("tfprof_m1.")
            )
    return names


def test_every_module_lives_in_a_layer_folder():
    loose = [name for name in _modules() if "." not in name and name not in (*LAYERS, "__main__", "__init__")]
    unknown = {name.split(".")[0] for name in _modules() if "." in name} - set(LAYERS)
    assert loose == [] and unknown == set()


def test_no_import_runs_up_a_layer():
    upward = []
    for name, path in _modules().items():
        for imported in _imports(path):
            if (
                LAYERS.index(_layer(imported)) > LAYERS.index(_layer(name))
                and (name, imported) not in ALLOWED_UPWARD
            ):
                upward.append(f"{name} -> {imported}")
    assert upward == []


def test_collection_imports_no_view_not_even_lazily():
    collection = {name: path for name, path in _modules().items() if _layer(name) == "collection"}
    assert len(collection) >= 10
    assert [
        f"{name} -> {i}" for name, path in collection.items() for i in _imports(path) if _layer(i) == "views"
    ] == []


def test_the_checker_sees_lazy_imports(tmp_path):
    """The rule above could pass by not seeing an import inside a function: show that it sees one."""
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from tfprof_m1.views.render import render_text\n    import tfprof_m1.run.bench\n"
    )
    assert _imports(module) == {"views.render", "run.bench"}


def _declared(path: Path) -> list[str] | None:
    """The ``__all__`` a module declares (what it offers the others), or None."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    return None


def test_every_module_declares_what_it_offers():
    undeclared = [name for name, path in _modules().items() if _declared(path) is None]
    assert undeclared == []


def test_modules_import_from_each_other_only_what_is_offered():
    """A name one package module imports from another is in that module's ``__all__``."""
    modules = _modules()
    unoffered = []
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("tfprof_m1"):
                continue
            source = node.module.removeprefix("tfprof_m1").removeprefix(".") or "__init__"
            offered = _declared(modules[source]) if source in modules else None
            if offered is None:
                continue
            unoffered += [f"{name}: {source}.{a.name}" for a in node.names if a.name not in offered]
    assert unoffered == []


def test_names_cut_from_the_public_surface_still_import_with_a_warning_naming_their_module():
    """Research code written against the old 41-name surface keeps running (issue 23 cut it to 16)."""
    import warnings

    import tfprof_m1
    from tfprof_m1.analysis.compare import compare
    from tfprof_m1.views.compare_render import render_comparison

    for name, expected, where in (
        ("compare_reports", compare, "from tfprof_m1.analysis.compare import compare"),
        (
            "render_comparison",
            render_comparison,
            "from tfprof_m1.views.compare_render import render_comparison",
        ),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert getattr(tfprof_m1, name) is expected
        assert [w.category for w in caught] == [DeprecationWarning] and where in str(caught[0].message)
    assert "compare_reports" not in tfprof_m1.__all__ and "compare_reports" not in dir(tfprof_m1)
    for name, (module, new) in tfprof_m1._MOVED.items():  # every old name leads somewhere real
        assert new in _declared(_modules()[module.removeprefix("tfprof_m1.")]), name
