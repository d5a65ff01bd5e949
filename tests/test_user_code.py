"""The user's own modules travel by value for executors that do not have them (mode="aws"): a function of
a module the executors cannot import still loads there; installed packages and Wukong stay by reference."""

from __future__ import annotations

import pickle
import subprocess
import sys

import cloudpickle
import numpy

from wukong.scheduler.user_code import installed_roots, is_user_module, register_user_modules


def test_user_packages_are_registered_and_installed_ones_are_not(tmp_path, monkeypatch):
    package = tmp_path / "my_analysis"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from my_analysis import steps

    assert "my_analysis" in register_user_modules()
    roots = installed_roots()
    assert not is_user_module("numpy", numpy, roots) and not is_user_module("pickle", pickle, roots)
    assert not is_user_module("wukong", sys.modules["wukong"], roots)
    data = cloudpickle.dumps(steps.double)
    loader = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read())(21))"  # no my_analysis here
    loaded = subprocess.run(
        [sys.executable, "-I", "-c", loader], input=data, capture_output=True, cwd=tmp_path / ".."
    )
    assert loaded.stdout.strip() == b"42", loaded.stderr.decode()[-2000:]
    assert register_user_modules() == []  # judged once
