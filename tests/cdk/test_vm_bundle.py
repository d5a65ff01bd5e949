"""The scheduler VM's wheels (layers/build.py build_vm_bundle) install offline, pinned by hash, and are the
layers' exact versions plus boto3: what the VM's boot runs (``pip install --no-index --require-hashes``),
here into a fresh venv of the same Python (this machine is x86_64 Linux, as the VM)."""

from __future__ import annotations

import json
import subprocess
import venv

import pytest

from cdk.constants import PYTHON_VERSION, VM_REQUIREMENTS, VM_WHEELS_DIR, vm_pip_install
from layers.build import LOCK_FILE, build_layers, build_vm_bundle

# The first build downloads wheels; the install unpacks numpy and dask.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def bundle():
    build_layers()
    return build_vm_bundle()


def test_every_wheel_is_pinned_with_its_hash_and_the_lock_is_included(bundle):
    pins = dict(line.split(" --hash=sha256:") for line in (bundle / VM_REQUIREMENTS).read_text().splitlines())
    assert len(pins) == len(list((bundle / VM_WHEELS_DIR).glob("*.whl")))
    assert all(len(digest) == 64 for digest in pins.values())
    assert set(LOCK_FILE.read_text().split()) <= set(pins)  # the layers' exact versions
    assert any(pin.startswith("boto3==") for pin in pins)


def test_the_vm_installs_them_without_an_index(bundle, tmp_path):
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(home)
    install = vm_pip_install([str(home / "bin" / "pip")], str(bundle))  # the boot's own command
    result = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = (
        "import json, sys, boto3, dask, numpy, redis; print(json.dumps([sys.version[:4], dask.__version__]))"
    )
    version, dask_version = json.loads(
        subprocess.run(
            [str(home / "bin" / "python"), "-c", probe], capture_output=True, text=True, check=True
        ).stdout
    )
    assert version.startswith(PYTHON_VERSION)
    assert f"dask=={dask_version}" in LOCK_FILE.read_text().split()
