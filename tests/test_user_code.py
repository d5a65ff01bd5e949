"""The user's own modules travel by value for executors that do not have them (mode="aws"): a function of
a module the executors cannot import still loads there; installed packages and Wukong stay by reference."""

from __future__ import annotations

import pickle
import subprocess
import sys

import cloudpickle
import numpy

from wukong.scheduler.user_code import by_value, installed_roots, is_user_module


def test_user_packages_go_by_value_in_the_block_and_installed_ones_never(tmp_path, monkeypatch):
    package = tmp_path / "my_analysis"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from my_analysis import steps

    with by_value() as packages:
        data = cloudpickle.dumps(steps.double)
    assert "my_analysis" in packages
    roots = installed_roots()
    assert not is_user_module("numpy", numpy, roots) and not is_user_module("pickle", pickle, roots)
    assert not is_user_module("wukong", sys.modules["wukong"], roots)
    loader = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read())(21))"  # no my_analysis here
    loaded = subprocess.run(
        [sys.executable, "-I", "-c", loader], input=data, capture_output=True, cwd=tmp_path / ".."
    )
    assert loaded.stdout.strip() == b"42", loaded.stderr.decode()[-2000:]
    # By reference outside the block (a local client in the same process): the loader cannot find it.
    outside = subprocess.run(
        [sys.executable, "-I", "-c", loader],
        input=cloudpickle.dumps(steps.double),
        capture_output=True,
        cwd=tmp_path / "..",
    )
    assert b"No module named 'my_analysis'" in outside.stderr
    with by_value(needed=False) as none:
        assert none == set()
