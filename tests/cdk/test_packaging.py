"""The Lambda packaging is complete: the function asset plus the layers, and nothing else, run a job.

The layers are built by layers/build.py and the app is synthesized by the pinned CDK CLI, exactly as for a
deployment; the function and layer directories are then taken from the synthesized template's asset metadata.
A fresh virtualenv's interpreter (no packages) runs with ``-I -S``: its sys.path is the standard library, the
function asset (Lambda's /var/task) and each layer's ``python/`` (Lambda's /opt/python), nothing else. It
imports the executor handler and runs a job through ``LocalCluster``/``Client`` against a redis-server this
test starts on a free loopback port with a random password; the worker processes LocalCluster spawns get the
same paths through PYTHONPATH and see no site-packages either. boto3 is not on the path: Lambda's runtime
provides it, and local mode must not need it.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

from cdk.constants import EXECUTOR_HANDLER, PYTHON_VERSION
from layers.build import LAMBDA_UNZIPPED_LIMIT_BYTES, tree_bytes

# The first layer build downloads wheels, then synth and the job run in the same test.
pytestmark = pytest.mark.timeout(900)

JOB_TIMEOUT_S = 240

CLEAN_SCRIPT = r"""
import os, sys
asset, *layers = sys.argv[1].split(os.pathsep)
port, password, python_version = int(sys.argv[2]), sys.argv[3], sys.argv[4]
assert "%d.%d" % sys.version_info[:2] == python_version, "the layers are built for " + python_version
sys.path[:0] = [asset, *layers]  # Lambda: /var/task first, then each layer's python/
os.environ["PYTHONPATH"] = os.pathsep.join(sys.path)  # what LocalCluster's workers inherit anyway

import wukong.executor.handler  # the executor's entry point imports with what is deployed

def origin(module):
    return os.path.realpath(sys.modules[module].__file__)

assert origin("wukong").startswith(os.path.realpath(asset)), origin("wukong")
# scipy.linalg: dask.array.linalg's cholesky and solve; it imports numpy.testing, which imports a module of
# numpy's tests directory (the layer build keeps it when it strips the tests).
for name in ("numpy", "scipy.linalg", "numpy.testing", "dask", "redis", "cloudpickle", "uhashring"):
    __import__(name)
    assert any(origin(name).startswith(os.path.realpath(layer)) for layer in layers), (name, origin(name))
assert "boto3" not in sys.modules
assert not [p for p in sys.path if "site-packages" in p], sys.path

from wukong import Client, LocalCluster

def inc(x):
    return x + 1

def add(x, y):
    return x + y

with LocalCluster(host=f"127.0.0.1:{port}", mds_password=password, job_timeout_s=120) as cluster:
    client = Client(cluster)
    assert client.get({"x": 1, "y": (inc, "x")}, "y") == 2
    graph = {"a": 1, "b": (inc, "a"), "c": (inc, "a"), "d": (add, "b", "c")}
    assert client.get(graph, "d") == 4
    import dask.array as da
    total = da.ones((200, 200), chunks=(50, 50)).sum()
    assert int(total.compute(scheduler=client.get)) == 40_000
print("PACKAGING-OK")
"""


def deployed_paths(outdir: Path, handler: str) -> tuple[Path, list[Path]]:
    """(function code directory, [layer python/ directories]) of the function with ``handler``."""
    resources = json.loads((outdir / "WukongStack.template.json").read_text())["Resources"]
    (function,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler
    ]
    code = outdir / function["Metadata"]["aws:asset:path"]
    layers = [
        outdir / resources[ref["Ref"]]["Metadata"]["aws:asset:path"] / "python"
        for ref in function["Properties"]["Layers"]
    ]
    return code, layers


@pytest.fixture(scope="module")
def clean_python(tmp_path_factory) -> Path:
    """An interpreter of the same Python with no packages at all."""
    home = tmp_path_factory.mktemp("clean-venv")
    venv.EnvBuilder(with_pip=False, system_site_packages=False).create(home)
    return home / "bin" / "python"


def test_deployed_size_is_under_the_lambda_limit(synthesized):
    code, layers = deployed_paths(synthesized, EXECUTOR_HANDLER)
    total = tree_bytes(code) + sum(tree_bytes(layer) for layer in layers)
    assert total <= LAMBDA_UNZIPPED_LIMIT_BYTES, f"{total / 1e6:.1f} MB unzipped"
    assert (code / "wukong" / "executor" / "handler.py").is_file()
    assert not [p for p in code.rglob("*") if p.name == "__pycache__" or p.suffix == ".pyc"]


def test_function_asset_and_layers_alone_run_a_job(synthesized, clean_python, redis_server, tmp_path):
    code, layers = deployed_paths(synthesized, EXECUTOR_HANDLER)
    port, password = redis_server
    script = tmp_path / "run_job.py"
    script.write_text(CLEAN_SCRIPT)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "WUKONG_PROGRESS": "off"}
    result = subprocess.run(
        [
            str(clean_python),
            "-I",
            "-S",
            str(script),
            os.pathsep.join(map(str, [code, *layers])),
            str(port),
            password,
            PYTHON_VERSION,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    assert result.returncode == 0 and "PACKAGING-OK" in result.stdout, (
        f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-6000:]}"
    )
