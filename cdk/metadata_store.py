"""The metadata store (MDS): one EC2 instance running redis-server in a private subnet."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .constants import REDIS_PORT

ROOT_VOLUME_GB = 30
REDIS_MAX_CLIENTS = 50_000  # every concurrent executor holds a connection; Redis' default is 10,000
REDIS_OPEN_FILES = 65_536


class MetadataStore(Construct):
    """Redis on Amazon Linux 2023 (IMDSv2 only, encrypted EBS); its password comes from Secrets Manager.

    ``address`` is "private-ip:6379", the value of the ``host`` setting.
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
    ) -> None:
        super().__init__(scope, construct_id)
        self.instance = ec2.Instance(
            self,
            "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            security_group=security_group,
            instance_type=ec2.InstanceType(instance_type),
            machine_image=ec2.MachineImage.latest_amazon_linux2023(),
            require_imdsv2=True,
            ssm_session_permissions=True,  # no SSH into the private subnet: Session Manager instead
            block_devices=[encrypted_root_volume()],
            user_data=redis_user_data(password.secret_arn, Stack.of(self).region),
        )
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
        f"{variable}=$(aws secretsmanager get-secret-value --region {region} --secret-id {secret_arn} "
        f"--query SecretString --output text | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"{key}\"])')"
    )


def redis_user_data(password_secret_arn: str, region: str) -> ec2.UserData:
    user_data = ec2.UserData.for_linux()
    user_data.add_commands(
        "set -euo pipefail",
        "dnf install -y redis6",
        read_secret_command("REDIS_PASSWORD", password_secret_arn, "password", region),
        # Later lines of redis.conf win; the store is a cache of one job's state, so no persistence.
        "cat >> /etc/redis6/redis6.conf <<EOF",
        "# --- Wukong metadata store ---",
        "bind 0.0.0.0",
        "protected-mode no",
        f"port {REDIS_PORT}",
        'requirepass "${REDIS_PASSWORD}"',
        f"maxclients {REDIS_MAX_CLIENTS}",
        'save ""',
        "appendonly no",
        "EOF",
        "mkdir -p /etc/systemd/system/redis6.service.d",
        f"printf '[Service]\\nLimitNOFILE={REDIS_OPEN_FILES}\\n' > /etc/systemd/system/redis6.service.d/wukong.conf",
        "systemctl daemon-reload",
        "systemctl enable --now redis6",
    )
    return user_data
