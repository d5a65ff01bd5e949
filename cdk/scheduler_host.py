"""The scheduler VM: where the user runs dask scripts; also runs the KV store proxy as a systemd service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from aws_cdk import AssetHashType, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3_assets as s3_assets
from constructs import Construct, IDependable

from . import boot_script
from .boot_script import NETWORK_ATTEMPTS, READINESS_ATTEMPTS
from .constants import (
    APP_DIR,
    LOGIN_USER,
    PROXY_MODULE,
    PROXY_UNIT,
    PYTHON_VERSION,
    RUNTIME_DIR,
    SCHEDULER_CONFIG_PATH,
    SCHEDULER_INSTALL_DIR,
    SETTINGS_FILE,
    VENV_DIR,
    VM_CONFIG_MODULE,
    vm_pip_install,
)
from .machine_image import accept_resolve_at_launch, amazon_linux_2023
from .metadata_store import encrypted_root_volume
from .runtime_asset import bundling, stage_scheduler_bundle
from .wukong_config import PROXY_ADDRESS_PLACEHOLDER, DeploymentSettings

PYTHON = f"python{PYTHON_VERSION}"
ARCHIVE = "/tmp/wukong-runtime.zip"
BOOT_TIMEOUT = Duration.minutes(20)  # dnf install of Python, an offline pip install, the readiness check


class SchedulerHost(Construct):
    """Amazon Linux 2023 in a public subnet with Python ``PYTHON_VERSION`` in a venv at /opt/wukong/venv.

    Boot installs the runtime from an S3 asset that carries its own wheels (built like the layers, pinned
    with hashes; ``pip install --no-index``), writes ``settings`` to /etc/dask/wukong.yaml with
    ``python -m wukong.aws.vm_config write`` (``proxy_address`` becomes the VM's own private IP), puts the
    venv first on login shells' PATH, starts the proxy unit, and signals CloudFormation once
    ``python -m wukong.aws.vm_config check`` passes. It boots after ``ready_first`` (the public subnets'
    route, the metadata store, the KVS service): its check needs them.
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
        vm_bundle: Path,
        settings: DeploymentSettings,
        key_name: str = "",
        ami_id: str = "",
        ready_first: Sequence[IDependable] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.runtime_asset = s3_assets.Asset(
            self,
            "Runtime",
            path=str(RUNTIME_DIR),
            bundling=bundling(stage_scheduler_bundle, vm_bundle=vm_bundle),
            asset_hash_type=AssetHashType.OUTPUT,
        )
        user_data = ec2.UserData.for_linux()
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=security_group,
            instance_type=ec2.InstanceType(instance_type),
            machine_image=amazon_linux_2023(ami_id),
            associate_public_ip_address=True,  # the user SSHes in; do not rely on the subnet's default
            require_imdsv2=True,
            ssm_session_permissions=True,
            block_devices=[encrypted_root_volume()],
            key_pair=ec2.KeyPair.from_key_pair_name(self, "KeyPair", key_name) if key_name else None,
            user_data=user_data,
            user_data_causes_replacement=True,  # a new runtime or config means a fresh VM, not a stale one
        )
        region = Stack.of(self).region
        user_data.add_commands(
            *boot_script.preamble(self.instance.instance),
            *install_commands(self.runtime_asset.s3_bucket_name, self.runtime_asset.s3_object_key, region),
            *config_commands(self, settings),
            *proxy_commands(region),
            *readiness_commands(),
            *boot_script.signal_ready(),
        )
        boot_script.wait_for_signal(self.instance.instance, BOOT_TIMEOUT)
        if not ami_id:
            accept_resolve_at_launch(self.instance)
        self.instance.node.add_dependency(*ready_first)
        # Its own object only (CDK's grant_read would allow every object of the bootstrap bucket).
        self.instance.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"],
                resources=[self.runtime_asset.bucket.arn_for_objects(self.runtime_asset.s3_object_key)],
            )
        )
        self.private_ip = self.instance.instance_private_ip
        self.public_ip = self.instance.instance_public_ip
        self.public_dns_name = self.instance.instance_public_dns_name


def install_commands(bucket: str, key: str, region: str) -> list[str]:
    return [
        f'step "installing {PYTHON}"',
        f"retry {NETWORK_ATTEMPTS} dnf install -y {PYTHON} {PYTHON}-pip",
        'step "downloading the runtime"',
        f"retry {NETWORK_ATTEMPTS} aws s3 cp --region {region} --only-show-errors s3://{bucket}/{key} {ARCHIVE}",
        'step "installing the runtime"',
        f"rm -rf {APP_DIR} && mkdir -p {APP_DIR}",
        f"{PYTHON} -m zipfile -e {ARCHIVE} {APP_DIR}",
        f"{PYTHON} -m venv {VENV_DIR}",
        # The layers' pins plus boto3, as wheels in the asset: the client unpickles what executors pickle,
        # so the versions must match, and nothing comes from the internet at boot.
        " ".join(vm_pip_install([f"{VENV_DIR}/bin/pip"], APP_DIR)),
        f"echo {APP_DIR} > {VENV_DIR}/lib/{PYTHON}/site-packages/wukong-app.pth",
        # Login shells: the venv first on PATH, and boto3's region without an ~/.aws/config.
        f'echo "export PATH={VENV_DIR}/bin:\\$PATH AWS_DEFAULT_REGION={region}" > /etc/profile.d/wukong.sh',
        f"chown -R {LOGIN_USER}: {SCHEDULER_INSTALL_DIR}",
    ]


def config_commands(scope: Construct, settings: DeploymentSettings) -> list[str]:
    """The stack's settings as JSON, then the runtime's own writer adds the VM's IP (IMDSv2) and writes
    /etc/dask/wukong.yaml: the same code a rehearsal of the deploy runs. The VM cannot reference its own
    private IP in its user data (a cycle), so ``proxy_address`` is a placeholder until then."""
    settings = replace(settings, proxy_address=PROXY_ADDRESS_PLACEHOLDER)
    document = Stack.of(scope).to_json_string(settings.as_config())
    return [
        'step "writing the settings"',
        f"cat > {SETTINGS_FILE} <<'EOF'",
        document,
        "EOF",
        f"retry {NETWORK_ATTEMPTS} {VENV_DIR}/bin/python -m {VM_CONFIG_MODULE} write "
        f"--settings {SETTINGS_FILE} --output {SCHEDULER_CONFIG_PATH}",
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
        'step "starting the proxy"',
        f"cat > /etc/systemd/system/{PROXY_UNIT}.service <<'EOF'",
        unit,
        "EOF",
        "systemctl daemon-reload",
        f"systemctl enable --now {PROXY_UNIT}",
    ]


def readiness_commands() -> list[str]:
    """The proxy unit active, then the runtime's check as the login user: the settings load, the MDS
    answers with the configured password, the KVS name resolves, the proxy accepts connections."""
    return [
        f'step "checking readiness: {PROXY_UNIT} active"',
        f"retry {READINESS_ATTEMPTS} systemctl is-active --quiet {PROXY_UNIT}",
        f'step "checking readiness: {VM_CONFIG_MODULE} check"',
        f"retry {READINESS_ATTEMPTS} runuser -u {LOGIN_USER} -- {VENV_DIR}/bin/python -m {VM_CONFIG_MODULE} check",
    ]
