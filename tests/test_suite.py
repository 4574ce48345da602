"""The suite's own rules: a test file stands alone, and every test says what it pins."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TEST_FILES = sorted(HERE.glob("test_*.py"))


def imported_test_modules(path: Path) -> list[str]:
    """The modules of the tests directory that ``path`` imports, other than fakes."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "tests":
            found += [f"tests.{alias.name}" for alias in node.names]  # from tests import x
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module or "")
    return [name for name in found if name.startswith("tests.") and name != "tests.fakes"]


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.name)
def test_a_test_file_imports_no_other_test_file(path: Path) -> None:
    """Helpers come from tests/fakes.py only: never from another test file, nor conftest.py
    (pytest loads it as a plugin; imported, it would run twice, as two modules)."""
    assert imported_test_modules(path) == []


@pytest.mark.parametrize("path", TEST_FILES, ids=lambda path: path.name)
def test_every_test_has_a_docstring(path: Path) -> None:
    """Each test function carries a docstring saying the behaviour it pins."""
    tests = [node for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
             and node.name.startswith("test_")]
    assert [test.name for test in tests if not ast.get_docstring(test)] == []
