"""The scheduler VM on this machine: its venv, its files under a root directory, the config its boot
writes, the proxy as its systemd unit runs it, and the environment of a user's process on it.

- **venv**: the VM's wheels (its asset's ``wheels/`` and ``vm-requirements.txt``: the layers' exact
  versions plus boto3) installed offline and by hash, as its boot installs them, into
  ``rehearsal/build/vm-venv-<stamp>`` (built once per pin set; the boot runs the same pip command).
- **files**: absolute paths of the boot script live under ``<root>`` (``/etc/dask/wukong.yaml`` is
  ``<root>/etc/dask/wukong.yaml``), the venv's under the venv; dask reads the config through
  ``DASK_ROOT_CONFIG`` (its ``/etc/dask``), and ``PYTHONPATH`` is the asset directory where the boot
  writes a ``.pth`` (the cached venv is shared by rehearsals, so nothing of one rehearsal goes into it).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

from cdk.constants import LOGIN_USER, SCHEDULER_CONFIG_PATH, VENV_DIR, VM_REQUIREMENTS, vm_pip_install
from wukong.local.processes import spawn
from wukong.proxy.server import READY_LINE

from .deployment import Deployment
from .processes import stop_group

BUILD_DIR = Path(__file__).resolve().parent / "build"
PROXY_START_S = 60
# Set here for some processors, where older OpenBLAS builds misbehave without them (as the platform does).
PASSED_THROUGH_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def vm_venv(asset_dir: Path, log=print) -> Path:
    """The VM's venv for the pins in ``asset_dir``, built with the boot's own install command once."""
    requirements = asset_dir / VM_REQUIREMENTS
    stamp = hashlib.sha256(requirements.read_bytes() + sys.version.encode()).hexdigest()[:12]
    target = BUILD_DIR / f"vm-venv-{stamp}"
    if (target / ".complete").exists():
        return target
    log(f"rehearsal: installing the VM's wheels offline into {target} (once)")
    building = BUILD_DIR / f".vm-venv-{stamp}-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    venv.EnvBuilder(with_pip=True).create(building)
    install = vm_pip_install([str(building / "bin" / "python"), "-m", "pip"], str(asset_dir))
    result = subprocess.run(install, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        raise RuntimeError(f"the VM's wheels did not install:\n{result.stderr[-3000:]}")
    (building / ".complete").touch()
    try:
        building.rename(target)
    except OSError:  # another rehearsal built it meanwhile
        shutil.rmtree(building, ignore_errors=True)
    return target


class SchedulerVM:
    def __init__(self, deployment: Deployment, root: Path, venv_dir: Path, aws_environment: dict[str, str]):
        self.deployment, self.root, self.venv = deployment, root, venv_dir
        self.aws_environment = aws_environment  # endpoints, credentials: what the VM's role and VPC give it
        self.home = root / "home" / LOGIN_USER
        self.home.mkdir(parents=True, exist_ok=True)
        self.proxy: subprocess.Popen | None = None

    @property
    def config_path(self) -> Path:
        return self.here(SCHEDULER_CONFIG_PATH)

    def here(self, path: str) -> Path:
        """Where an absolute path of the VM is on this machine."""
        if path.startswith(VENV_DIR + "/"):
            return self.venv / path[len(VENV_DIR) + 1 :]
        return self.root / path.lstrip("/")

    def command(self, words: list[str]) -> list[str]:
        return [str(self.here(word)) if word.startswith("/") else word for word in words]

    def environment(self, **extra: str) -> dict[str, str]:
        """What a process on the VM sees: a login shell's PATH and region (/etc/profile.d/wukong.sh)."""
        passed = {name: os.environ[name] for name in PASSED_THROUGH_VARIABLES if name in os.environ}
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_DEFAULT_REGION": self.deployment.region,
            "PYTHONPATH": str(self.deployment.vm_asset_dir),  # the boot's wukong-app.pth
            "DASK_ROOT_CONFIG": str(self.config_path.parent),  # dask's /etc/dask
            "AWS_CONFIG_FILE": "/nonexistent",  # nothing of this machine's AWS configuration
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            **passed,
            **self.aws_environment,
            **extra,
        }

    def write_config(self, proxy_address: str) -> dict:
        """The boot's ``vm_config write`` command, with ``--proxy-address`` for its IMDSv2 lookup."""
        boot_command = self.deployment.vm_config_command()
        settings = self.here(boot_command[boot_command.index("--settings") + 1])  # the boot's heredoc
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(self.deployment.vm_settings))
        command = [*self.command(boot_command), "--proxy-address", proxy_address]
        result = subprocess.run(
            command, env=self.environment(), capture_output=True, text=True, cwd=self.home
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}")
        return self.config()

    def config(self) -> dict:
        return json.loads(self.config_path.read_text())["wukong"]

    def override(self, changes: dict) -> None:
        """Change settings in the written file (the rehearsal's addresses for the deployment's)."""
        self.config_path.write_text(
            json.dumps({"wukong": {**self.config(), **changes}}, indent=2, sort_keys=True)
        )

    def start_proxy(self, log_path: Path) -> int:
        """The proxy unit's ExecStart with its Environment=, in the VM's environment; returns its port."""
        command, unit_environment = self.deployment.proxy_unit()
        with open(log_path, "w") as log:
            self.proxy = spawn(
                self.command(command),
                cwd=self.home,
                env=self.environment(**unit_environment),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        line = self.proxy.stdout.readline()  # the ready line, or "" when it exits
        self.proxy.stdout.close()
        if not line.startswith(READY_LINE):
            self.stop_proxy()
            raise RuntimeError(f"the proxy did not start: {line!r}\n{log_path.read_text()[-3000:]}")
        return int(line.strip().rsplit(":", 1)[1])

    def stop_proxy(self) -> None:
        if self.proxy is not None:
            stop_group(self.proxy)

    def run(self, args: list[str], log_path: Path) -> subprocess.Popen:
        """A user's command on the VM (``python -m examples ...``), from its home directory."""
        with open(log_path, "w") as log:
            return spawn(
                self.command(args),
                cwd=self.home,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
