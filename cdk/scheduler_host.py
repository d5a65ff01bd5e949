"""The scheduler VM: where the user runs dask scripts; also runs the KV store proxy as a systemd service."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aws_cdk import AssetHashType, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct

from .constants import PROXY_MODULE, PYTHON_VERSION, RUNTIME_DIR, SCHEDULER_CONFIG_PATH, SCHEDULER_INSTALL_DIR
from .metadata_store import encrypted_root_volume
from .runtime_asset import bundling, stage_scheduler_bundle
from .wukong_config import PROXY_ADDRESS_PLACEHOLDER, DeploymentSettings

PYTHON = f"python{PYTHON_VERSION}"
APP_DIR = f"{SCHEDULER_INSTALL_DIR}/app"  # wukong/, examples/, requirements.lock
VENV_DIR = f"{SCHEDULER_INSTALL_DIR}/venv"
PROXY_UNIT = "wukong-proxy"
LOGIN_USER = "ec2-user"
IMDS = "http://169.254.169.254/latest"


class SchedulerHost(Construct):
    """Amazon Linux 2023 in a public subnet with Python ``PYTHON_VERSION`` in a venv at /opt/wukong/venv.

    Boot installs the runtime from an S3 asset with the layers' exact pins (``lock_file``), writes
    ``settings`` to /etc/dask/wukong.yaml (``proxy_address`` becomes the VM's own private IP, whatever
    ``settings`` says), puts the venv first on login shells' PATH and starts the proxy unit.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        instance_type: str,
        lock_file: Path,
        settings: DeploymentSettings,
        key_name: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_asset = s3_assets.Asset(
            self,
            "Runtime",
            path=str(RUNTIME_DIR),
            bundling=bundling(stage_scheduler_bundle, lock_file=lock_file),
            asset_hash_type=AssetHashType.OUTPUT,
        )
        user_data = ec2.UserData.for_linux()
        user_data.add_commands("set -euo pipefail", f"dnf install -y {PYTHON} {PYTHON}-pip")
        archive = user_data.add_s3_download_command(
            bucket=self.runtime_asset.bucket, bucket_key=self.runtime_asset.s3_object_key
        )
        region = Stack.of(self).region
        user_data.add_commands(
            *install_commands(archive, region), *config_commands(self, settings), *proxy_commands(region)
        )
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=security_group,
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            associate_public_ip_address=True,  # the user SSHes in; do not rely on the subnet's default
            require_imdsv2=True,
            ssm_session_permissions=True,
            block_devices=[encrypted_root_volume()],
            key_pair=ec2.KeyPair.from_key_pair_name(self, "KeyPair", key_name) if key_name else None,
            user_data=user_data,
            user_data_causes_replacement=True,  # a new runtime or config means a fresh VM, not a stale one
        )
        self.runtime_asset.grant_read(self.instance)
        self.private_ip = self.instance.instance_private_ip
        self.public_ip = self.instance.instance_public_ip
        self.public_dns_name = self.instance.instance_public_dns_name


def install_commands(archive: str, region: str) -> list[str]:
    return [
        f"rm -rf {APP_DIR} && mkdir -p {APP_DIR}",
        f"{PYTHON} -m zipfile -e {archive} {APP_DIR}",
        f"{PYTHON} -m venv {VENV_DIR}",
        # The layers' pins: the client unpickles what executors pickle, so the versions must match.
        f"{VENV_DIR}/bin/pip install --quiet --disable-pip-version-check -r {APP_DIR}/requirements.lock boto3",
        f"echo {APP_DIR} > {VENV_DIR}/lib/{PYTHON}/site-packages/wukong-app.pth",
        # Login shells: the venv first on PATH, and boto3's region without an ~/.aws/config.
        f"echo 'export PATH={VENV_DIR}/bin:$PATH AWS_DEFAULT_REGION={region}' > /etc/profile.d/wukong.sh",
        f"chown -R {LOGIN_USER}: {SCHEDULER_INSTALL_DIR}",
    ]


def config_commands(scope: Construct, settings: DeploymentSettings) -> list[str]:
    """Write /etc/dask/wukong.yaml as JSON (valid YAML) from the stack's values, then fill in the own IP.

    The VM cannot reference its own private IP in its user data (a cycle), so ``proxy_address`` is written
    as a placeholder and replaced at boot with the address IMDSv2 reports.
    """
    settings = replace(settings, proxy_address=PROXY_ADDRESS_PLACEHOLDER)
    document = Stack.of(scope).to_json_string({"wukong": settings.as_config()})
    return [
        f"TOKEN=$(curl -sf -X PUT {IMDS}/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')",
        f'PRIVATE_IP=$(curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" {IMDS}/meta-data/local-ipv4)',
        f"mkdir -p {Path(SCHEDULER_CONFIG_PATH).parent}",
        f"cat > {SCHEDULER_CONFIG_PATH} <<'EOF'",
        document,
        "EOF",
        f'sed -i "s/{PROXY_ADDRESS_PLACEHOLDER}/$PRIVATE_IP/" {SCHEDULER_CONFIG_PATH}',
        f"chmod 644 {SCHEDULER_CONFIG_PATH}",
    ]


def proxy_commands(region: str) -> list[str]:
    unit = "\n".join(
        [
            "[Unit]",
            "Description=Wukong KV store proxy (parallel invocation of large fan-outs)",
            "Wants=network-online.target",
            "After=network-online.target",
            "[Service]",
            f"User={LOGIN_USER}",
            f"Environment=AWS_DEFAULT_REGION={region}",
            f"ExecStart={VENV_DIR}/bin/{PYTHON} -m {PROXY_MODULE}",
            "Restart=always",
            "RestartSec=2",
            "[Install]",
            "WantedBy=multi-user.target",
        ]
    )
    return [
        f"cat > /etc/systemd/system/{PROXY_UNIT}.service <<'EOF'",
        unit,
        "EOF",
        "systemctl daemon-reload",
        f"systemctl enable --now {PROXY_UNIT}",
    ]
