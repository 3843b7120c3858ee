"""The layers are enforced, not just drawn: import-linter's contracts (in `pyproject.toml`)
hold for the kit and the HTTP toolkit, and one wrong import in a copy of the package breaks
them, so `make lint` would fail on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(package_parent: Path, contract: str) -> subprocess.CompletedProcess[str]:
    """Check one contract of the project's configuration against the `tidings` package found
    in `package_parent`."""
    return subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--contract", contract, "--no-cache"],
        cwd=package_parent,
        env={**os.environ, "PYTHONPATH": str(package_parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("contract", ["kit-knows-no-domain", "toolkit-knows-no-domain"])
def test_the_kit_and_the_toolkit_know_no_domain(contract: str) -> None:
    result = lint_imports(ROOT / "src", contract)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "contract"),
    [("kit/money.py", "kit-knows-no-domain"), ("api/errors.py", "toolkit-knows-no-domain")],
)
def test_a_domain_import_below_the_domains_breaks_the_contract(
    tmp_path: Path, module: str, contract: str
) -> None:
    shutil.copytree(
        ROOT / "src" / "tidings", tmp_path / "tidings", ignore=shutil.ignore_patterns("__pycache__")
    )
    wrong = tmp_path / "tidings" / module
    wrong.write_text(wrong.read_text() + "\nfrom tidings.wallets import service  # wrong\n")

    result = lint_imports(tmp_path, contract)

    assert result.returncode == 1, result.stdout + result.stderr
    importer = "tidings." + module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> tidings.wallets.service" in result.stdout
    assert "0 kept, 1 broken" in result.stdout
