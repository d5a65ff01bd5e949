"""Values every construct, the layer build and the tests agree on. Units are in the names."""

from __future__ import annotations

from pathlib import Path

# One Python minor version for the Lambda runtime, the layer wheels and the scheduler VM: cloudpickle
# serializes functions as bytecode, which only the same minor version can load. Stays 3.11 while the
# development machines (and the packaging test, which runs the layers here) have only 3.11.
PYTHON_VERSION = "3.11"
# Lambda's python3.11 runtime (Amazon Linux 2) is deprecated on this date: no more security patches; new
# functions are blocked a month later, updates two months later (AWS Lambda runtimes table; cfn-lint's
# LmbdRuntimeLifecycle data, checked by tests/cdk/test_runtime_lifetime.py). docs/deploy.md prints it.
LAMBDA_PYTHON_DEPRECATION_DATE = "2027-06-30"
LAMBDA_PYTHON_BLOCK_CREATE_DATE = "2027-07-31"
LAMBDA_PYTHON_BLOCK_UPDATE_DATE = "2027-08-31"

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNTIME_DIR = REPO_ROOT / "runtime"  # the source of the import package `wukong`
RUNTIME_PACKAGE = "wukong"

REDIS_PORT = 6379
PROXY_PORT = 8989
SSH_PORT = 22

EXECUTOR_HANDLER = "wukong.executor.handler.lambda_handler"
PROXY_MODULE = "wukong.proxy"


# Cloud Map private DNS namespace in the VPC. Not .local: that name is reserved for multicast DNS (RFC 6762)
# and systemd-resolved on Amazon Linux 2023 may not send it to the VPC resolver. .internal is reserved
# for private use (ICANN, 2024).
KVS_NAMESPACE = "wukong.internal"
KVS_SERVICE = "kvs"  # one A record per Fargate Redis node: kvs.wukong.internal
KVS_DNS_TTL_S = 10  # nodes come and go with deployments; short TTL so clients see new ones soon

# The scheduler VM's bundle (layers/build.py writes it; its S3 asset carries it): wheels and their pins.
VM_WHEELS_DIR = "wheels"
VM_REQUIREMENTS = "vm-requirements.txt"


def vm_pip_install(pip: list[str], app_dir: str) -> list[str]:
    """The scheduler VM's install of its wheels, offline and hash-checked: its boot runs it, and the
    rehearsal and the tests run the same command (``pip``: how to call pip in the target venv)."""
    return [
        *pip,
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-index",
        "--find-links",
        f"{app_dir}/{VM_WHEELS_DIR}",
        "--require-hashes",
        "-r",
        f"{app_dir}/{VM_REQUIREMENTS}",
    ]


# Files the scheduler VM and the Lambdas share.
SCHEDULER_CONFIG_PATH = "/etc/dask/wukong.yaml"  # dask reads /etc/dask/*.yaml by itself
SCHEDULER_INSTALL_DIR = "/opt/wukong"
# The scheduler VM's layout and services (cdk/scheduler_host.py renders them; the rehearsal reads them back
# from a deployed boot script, without importing the CDK).
APP_DIR = f"{SCHEDULER_INSTALL_DIR}/app"  # wukong/, examples/, wheels/, vm-requirements.txt
VENV_DIR = f"{SCHEDULER_INSTALL_DIR}/venv"
SETTINGS_FILE = f"{SCHEDULER_INSTALL_DIR}/settings.json"  # the stack's settings, before the VM adds its IP
VM_CONFIG_MODULE = "wukong.aws.vm_config"
PROXY_UNIT = "wukong-proxy"
LOGIN_USER = "ec2-user"
