"""Docs you can paste: every Python block in README.md and docs/ runs as written, unless the line
before it marks it ``<!-- fragment: why -->``; docs import public names from the package and other
names from the module that offers them (its ``__all__``); every public name has its section in
docs/api.md."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow]

FENCE = re.compile(r"^```(\w*)\s*$")
FRAGMENT = re.compile(r"^<!-- fragment: .+ -->$")


def python_blocks() -> list[tuple[str, int, str, bool]]:
    """(file, line, code, runnable) of every ```python block."""
    blocks = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        lines = path.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index])
            if opening and opening.group(1):
                end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
                if opening.group(1) == "python":
                    before = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
                    code = "\n".join(lines[index + 1 : end]) + "\n"
                    blocks.append((str(path.relative_to(REPO)), index + 1, code, not FRAGMENT.match(before)))
                index = end
            index += 1
    return blocks


BLOCKS = python_blocks()
RUNNABLE = [(name, line, code) for name, line, code, runnable in BLOCKS if runnable]


def module_all(module: str) -> list[str]:
    """The ``__all__`` a package module declares, read from its source (nothing is imported)."""
    relative = Path(*module.split("."))
    path = REPO / relative.with_suffix(".py")
    if not path.exists():
        path = REPO / relative / "__init__.py"
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


def test_docs_have_runnable_blocks_and_fragments_say_why():
    assert len(RUNNABLE) >= 8
    for name, line, code, _ in BLOCKS:
        python = "\n".join(
            row for row in code.splitlines() if not row.startswith(("!", "%"))
        )  # notebook magics
        for node in ast.walk(ast.parse(python)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tfprof_m1"):
                offered = module_all(node.module)
                missing = [alias.name for alias in node.names if alias.name not in offered]
                assert missing == [], f"{name}:{line}: {node.module} does not offer {missing} (its __all__)"


PAGES = sorted({name for name, _, _ in RUNNABLE})


#: Runs every page's blocks in one interpreter: a page's blocks in order in the page's own folder,
#: each block in a namespace of its own (as ``python block.py`` would, so a block cannot lean on an
#: earlier block's names); a page's failure is written to its folder and the next page runs.
_PAGE_RUNNER = """
import os, runpy, sys, traceback
for folder in sys.argv[1:]:
    os.chdir(folder)
    for script in sorted(os.listdir("blocks"), key=lambda name: int(name[6:-3])):
        try:
            runpy.run_path(os.path.join("blocks", script), run_name="__main__")
        except BaseException:
            with open("FAILED", "w") as failed:
                failed.write(script + "\\n" + traceback.format_exc())
            break
"""

#: Pages whose blocks set what TensorFlow fixes once per process (logical devices) run first.
_FIRST = ("docs/distributed.md",)


@pytest.fixture(scope="module")
def page_runs(tmp_path_factory) -> tuple[dict[str, Path], subprocess.CompletedProcess]:
    """Every page's blocks, run in one interpreter (TensorFlow imported once, not once a page):
    each page's folder, and the process."""
    folders = {}
    for page in sorted(PAGES, key=lambda page: (page not in _FIRST, page)):
        folder = tmp_path_factory.mktemp(Path(page).stem)
        (folder / "blocks").mkdir()
        for name, line, code in RUNNABLE:
            if name == page:
                (folder / "blocks" / f"block_{line}.py").write_text(code, encoding="utf-8")
        folders[page] = folder
    result = subprocess.run(
        [sys.executable, "-c", _PAGE_RUNNER, *map(str, folders.values())],
        capture_output=True,
        text=True,
        timeout=600,
    )
    return folders, result


@pytest.mark.parametrize("page", PAGES)
def test_doc_blocks_run_as_written(page, page_runs):
    """A page's blocks run in order in one directory, as a reader pastes them into one session (a
    later block may read a file an earlier one wrote)."""
    folders, result = page_runs
    assert result.returncode == 0, result.stderr[-3000:]
    failed = folders[page] / "FAILED"
    assert not failed.exists(), f"{page}, {failed.read_text()[-3000:] if failed.exists() else ''}"
    assert list(folders[page].glob("blocks/*.py"))  # the page had blocks to run


def test_every_public_name_has_a_section_in_the_api_page():
    import tfprof_m1

    text = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### `(\w+)`", text, flags=re.M))
    exported = set(tfprof_m1.__all__) - {"__version__"}
    assert exported == set(tfprof_m1._EXPORTS), "__all__ and the lazy loader list the same names"
    assert exported - documented == set(), "exported but not in docs/api.md"
    assert documented - exported == set(), "in docs/api.md but not exported"
    from_modules = re.findall(r"^#### `(\w+)` · `(tfprof_m1[\w.]+)`", text, flags=re.M)
    assert len(from_modules) >= 10
    assert [(name, module) for name, module in from_modules if name not in module_all(module)] == []


def test_no_exported_name_is_shadowed_by_a_submodule():
    """``from tfprof_m1 import X`` must give the function even after a module named X was imported."""
    import importlib
    import pkgutil
    import types

    import tfprof_m1

    for module in pkgutil.iter_modules(tfprof_m1.__path__):
        if module.name != "__main__":
            importlib.import_module(f"tfprof_m1.{module.name}")
    shadowed = [name for name in tfprof_m1.__all__ if isinstance(getattr(tfprof_m1, name), types.ModuleType)]
    assert shadowed == []


@pytest.mark.tf
def test_every_public_name_has_a_docstring():
    """Modules, public functions and classes, and public methods, unless the method overrides one a
    base class documents (a Keras callback hook, NullProfiler's no-op profiler methods)."""
    import importlib
    import inspect
    import pkgutil

    import tfprof_m1

    missing = []
    for info in pkgutil.walk_packages(tfprof_m1.__path__, "tfprof_m1."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if not inspect.getdoc(module):
            missing.append(info.name)
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != info.name:
                continue
            if (inspect.isfunction(value) or inspect.isclass(value)) and not value.__doc__:
                missing.append(f"{info.name}.{name}")
            if not inspect.isclass(value):
                continue
            for attribute, member in vars(value).items():
                function = member.fget if isinstance(member, property) else member
                if attribute.startswith("_") or not inspect.isfunction(function) or function.__doc__:
                    continue
                if function.__name__ == "<lambda>":  # a dataclass field's default
                    continue
                inherited = any(
                    getattr(getattr(base, attribute, None), "__doc__", None) for base in value.__mro__[1:]
                )
                if not inherited:
                    missing.append(f"{info.name}.{name}.{attribute}")
    assert missing == [], "\n".join(missing)
