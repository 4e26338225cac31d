"""The architecture is a checked fact: import-linter's contracts in pyproject.toml.

Layers, lowest first: ``backend`` (with ``random``, ``profiler``,
``atomic_files``) -> ``autograd`` -> ``ops`` (kernels inside) ->
``activations``/``initializers`` -> ``layers`` -> ``losses``/``metrics``/
``optimizers``/``callbacks`` -> ``models`` -> ``datasets``/``io``/
``applications``/``interop``/``plots``/``utils`` -> ``cli``. A module imports
only from layers below its own, and no package has an import circle among its
modules. Imports inside functions count too.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` over the ``minicnn`` package found in ``root``."""
    if not LINT.exists():
        pytest.fail(f"lint-imports not found beside {sys.executable}: install the 'test' extra")
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, broken, named", [
    ("minicnn/ops/conv.py", "from ..models import Model", "layered", "minicnn.ops.conv -> minicnn.models"),
    ("minicnn/autograd/backprop.py", "from . import tensor", "circles", ".tensor -> .backprop"),
])
def test_an_upward_import_or_a_circle_breaks_the_build(tmp_path, module, line, broken, named):
    """The contracts are not vacuous: a copy of the package with one upward
    import (or one new circle) fails, and the report names the offending line."""
    shutil.copytree(ROOT / "minicnn", tmp_path / "minicnn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # added by the test\n")
    result = lint(tmp_path)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout and broken in result.stdout
    assert named in result.stdout, result.stdout
