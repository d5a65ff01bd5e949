"""The metadata store (MDS): one EC2 instance running redis-server in a private subnet."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IDependable

from . import boot_script
from .boot_script import NETWORK_ATTEMPTS, READINESS_ATTEMPTS
from .constants import REDIS_PORT
from .machine_image import accept_resolve_at_launch, amazon_linux_2023

ROOT_VOLUME_GB = 30
REDIS_MAX_CLIENTS = 50_000  # every concurrent executor holds a connection; Redis' default is 10,000
REDIS_OPEN_FILES = 65_536
# maxmemory as a share of the instance's RAM: the rest is Redis' own overhead (buffers of 50,000 clients,
# fragmentation) and the OS. Without it Redis grows until the OOM killer ends it mid-job, with every counter.
REDIS_MEMORY_PERCENT = 75
BOOT_TIMEOUT = Duration.minutes(15)  # dnf install of two packages and a start; CloudFormation waits this long


class MetadataStore(Construct):
    """Redis on Amazon Linux 2023 (IMDSv2 only, encrypted EBS); its password comes from Secrets Manager.

    ``address`` is "private-ip:6379", the value of the ``host`` setting. The instance is created after
    ``network_ready`` (the private subnets' route to the NAT gateway: boot installs packages) and counts
    as created only once its boot script signals that Redis answers with the password and its maxmemory.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        password: secretsmanager.ISecret,
        instance_type: str,
        network_ready: Sequence[IDependable] = (),
        ami_id: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        user_data = ec2.UserData.for_linux()
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=security_group,
            instance_type=ec2.InstanceType(instance_type),
            machine_image=amazon_linux_2023(ami_id),
            require_imdsv2=True,
            ssm_session_permissions=True,  # no SSH into the private subnet: Session Manager instead
            block_devices=[encrypted_root_volume()],
            user_data=user_data,
        )
        user_data.add_commands(
            *boot_script.preamble(self.instance.instance),
            *redis_commands(password.secret_arn, Stack.of(self).region),
            *boot_script.signal_ready(),
        )
        boot_script.wait_for_signal(self.instance.instance, BOOT_TIMEOUT)
        if not ami_id:
            accept_resolve_at_launch(self.instance)
        self.instance.node.add_dependency(*network_ready)
        password.grant_read(self.instance)
        self.private_ip = self.instance.instance_private_ip
        self.address = f"{self.private_ip}:{REDIS_PORT}"


def encrypted_root_volume(size_gb: int = ROOT_VOLUME_GB) -> ec2.BlockDevice:
    return ec2.BlockDevice(
        device_name="/dev/xvda",  # Amazon Linux 2023's root device
        volume=ec2.BlockDeviceVolume.ebs(
            size_gb, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3, delete_on_termination=True
        ),
    )


def read_secret_command(variable: str, secret_arn: str, key: str, region: str) -> str:
    """A shell line that puts one JSON key of a secret into ``variable`` (AL2023 ships the AWS CLI)."""
    return (
        f"{variable}=$(retry {NETWORK_ATTEMPTS} aws secretsmanager get-secret-value --region {region} "
        f"--secret-id {secret_arn} --query SecretString --output text "
        f"| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{key}\"])')"
    )


def redis_commands(password_secret_arn: str, region: str) -> list[str]:
    cli = f"redis6-cli -p {REDIS_PORT}"  # REDISCLI_AUTH: the password never appears in a command line
    return [
        'step "installing redis6"',
        f"retry {NETWORK_ATTEMPTS} dnf install -y redis6",
        'step "reading the Redis password from Secrets Manager"',
        read_secret_command("REDIS_PASSWORD", password_secret_arn, "password", region),
        "export REDISCLI_AUTH=$REDIS_PASSWORD",
        'step "configuring Redis"',
        "MEMORY_KB=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)",
        f"MAXMEMORY_BYTES=$((MEMORY_KB * 1024 * {REDIS_MEMORY_PERCENT} / 100))",
        # Later lines of redis.conf win; the store is a cache of one job's state, so no persistence.
        # noeviction: a full store answers writes with an OOM error the client reports, instead of
        # silently dropping a key some executor still needs.
        "cat >> /etc/redis6/redis6.conf <<EOF",
        "# --- Wukong metadata store ---",
        "bind 0.0.0.0",
        "protected-mode no",
        f"port {REDIS_PORT}",
        'requirepass "${REDIS_PASSWORD}"',
        f"maxclients {REDIS_MAX_CLIENTS}",
        "maxmemory ${MAXMEMORY_BYTES}",
        "maxmemory-policy noeviction",
        'save ""',
        "appendonly no",
        "EOF",
        "mkdir -p /etc/systemd/system/redis6.service.d",
        f"printf '[Service]\\nLimitNOFILE={REDIS_OPEN_FILES}\\n' > /etc/systemd/system/redis6.service.d/wukong.conf",
        "systemctl daemon-reload",
        'step "starting Redis"',
        "systemctl enable --now redis6",
        "mds_ready() {",
        f'  [ "$({cli} ping)" = PONG ] &&',
        f'    [ "$({cli} config get maxmemory | sed -n 2p)" = "$MAXMEMORY_BYTES" ]',
        "}",
        'step "checking readiness: authenticated PING and CONFIG GET maxmemory"',
        f"retry {READINESS_ATTEMPTS} mds_ready",
    ]
