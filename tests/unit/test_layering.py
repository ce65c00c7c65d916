"""The dependency arrows of shared/STYLE.md: ``api`` -> ``domain`` <- ``store``. The domain owns its ports
(``domain/ports.py``); the composition roots in ``functions/`` hand it the adapters."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "stratus" / "stratus"


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((PACKAGE / folder).rglob("*.py")):
        for module in sorted(_imported_modules(path)):
            if module.startswith(forbidden):
                found.append(f"{path.relative_to(PACKAGE)} imports {module}")
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("domain", ("stratus.store", "stratus.api", "boto3", "botocore", "pynamodb", "aws_lambda_powertools")),
        ("api", ("stratus.store", "boto3", "botocore", "pynamodb")),
    ],
)
def test_inner_layers_import_no_outer_one(folder: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(folder, forbidden) == []


def test_the_check_sees_an_import_it_forbids(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from stratus.store.s3 import S3ArtifactStore\nimport boto3\n")
    assert _imported_modules(module) == {"stratus.store.s3", "boto3"}
