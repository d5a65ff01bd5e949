"""WukongStack: assembles the constructs, grants who may do what, and outputs every endpoint and name."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from .functions import Functions
from .kv_store import KeyValueStore
from .metadata_store import MetadataStore
from .nag import acknowledge_findings
from .network import Network
from .scheduler_host import LOGIN_USER, SchedulerHost
from .secrets import Secrets
from .wukong_config import PROXY_ADDRESS_PLACEHOLDER, DeploymentSettings


@dataclass(frozen=True)
class WukongStackProps:
    """Everything ``app.py`` reads from context, plus the built layers. Units are in the names."""

    layer_dirs: tuple[Path, ...]
    lock_file: Path  # name==version of every distribution in the layers; the scheduler VM installs these
    ssh_cidr: str = "127.0.0.1/32"  # closed until the operator says where SSH comes from
    key_name: str = (
        ""  # an existing EC2 key pair; empty: connect with EC2 Instance Connect or Session Manager
    )
    mds_instance_type: str = "m6i.large"
    scheduler_instance_type: str = "m6i.large"
    kvs_image: str = "public.ecr.aws/docker/library/redis:7.2-alpine"
    kvs_node_count: int = 2
    kvs_node_cpu: int = 1024  # Fargate CPU units: 1024 = 1 vCPU
    kvs_node_memory_mib: int = 4096
    lambda_memory_mb: int = 3008
    lambda_timeout_s: int = 900
    # moto cannot deploy Cloud Map nor custom resources (they run Lambdas); see docs/infrastructure.md.
    moto_compatible: bool = False


class WukongStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, props: WukongStackProps, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.network = Network(
            self,
            "Network",
            ssh_cidr=props.ssh_cidr,
            restrict_default_security_group=not props.moto_compatible,
        )
        self.secrets = Secrets(self, "Secrets")
        private = self.network.private_subnets
        self.metadata_store = MetadataStore(
            self,
            "MetadataStore",
            vpc=self.network.vpc,
            subnets=private,
            security_group=self.network.redis_group,
            password=self.secrets.redis_password,
            instance_type=props.mds_instance_type,
        )
        self.kv_store = KeyValueStore(
            self,
            "KeyValueStore",
            vpc=self.network.vpc,
            subnets=private,
            security_group=self.network.redis_group,
            password=self.secrets.redis_password,
            image=props.kvs_image,
            node_count=props.kvs_node_count,
            cpu=props.kvs_node_cpu,
            memory_mib=props.kvs_node_memory_mib,
            service_discovery=not props.moto_compatible,
        )
        settings = DeploymentSettings(
            host=self.metadata_store.address,
            redis_password_secret_arn=self.secrets.redis_password.secret_arn,
            kvs_service_name=self.kv_store.endpoint,
            executor_function_name=f"{self.stack_name}-Executor",
            invoker_function_name=f"{self.stack_name}-Invoker",
            aws_region=self.region,
            proxy_address=PROXY_ADDRESS_PLACEHOLDER,
            proxy_secret_arn=self.secrets.proxy_secret.secret_arn,
            lambda_memory_mb=props.lambda_memory_mb,
        )
        self.scheduler = SchedulerHost(
            self,
            "Scheduler",
            vpc=self.network.vpc,
            subnets=self.network.public_subnets,
            security_group=self.network.scheduler_group,
            instance_type=props.scheduler_instance_type,
            lock_file=props.lock_file,
            settings=settings,
            key_name=props.key_name,
        )
        self.settings = replace(settings, proxy_address=self.scheduler.private_ip)
        self.functions = Functions(
            self,
            "Functions",
            vpc=self.network.vpc,
            subnets=private,
            executor_group=self.network.executor_group,
            invoker_group=self.network.invoker_group,
            layer_dirs=props.layer_dirs,
            executor_name=settings.executor_function_name,
            invoker_name=settings.invoker_function_name,
            memory_mb=props.lambda_memory_mb,
            timeout_s=props.lambda_timeout_s,
            environment=self.settings.as_environment(),
        )
        self.grant_access()
        self.add_outputs()
        acknowledge_findings(self)

    def grant_access(self) -> None:
        functions, secrets = self.functions, self.secrets
        for secret in (secrets.redis_password, secrets.proxy_secret):
            for grantee in (functions.executor, functions.invoker, self.scheduler.instance):
                secret.grant_read(grantee)
        # The executor continues a schedule by invoking itself; it may invoke nothing else.
        allow_invoke(functions.executor.role, functions.executor_arn)
        allow_invoke(functions.invoker.role, functions.executor_arn)
        allow_invoke(self.scheduler.instance.role, functions.executor_arn, functions.invoker_arn)

    def add_outputs(self) -> None:
        scheduler, settings = self.scheduler, self.settings
        outputs = {
            "SchedulerPublicDns": (scheduler.public_dns_name, "public DNS name of the scheduler VM"),
            "SchedulerPublicIp": (scheduler.public_ip, "public IP address of the scheduler VM"),
            "SchedulerInstanceId": (scheduler.instance.instance_id, "instance id (Instance Connect, SSM)"),
            "SshCommand": (f"ssh {LOGIN_USER}@{scheduler.public_dns_name}", "log in to the scheduler VM"),
            "MdsAddress": (settings.host, "metadata store Redis, host:port (setting `host`)"),
            "KvsServiceName": (
                settings.kvs_service_name,
                "KVS nodes' DNS name:port (setting `kvs_service_name`)",
            ),
            "ExecutorFunctionName": (settings.executor_function_name, "executor Lambda function"),
            "InvokerFunctionName": (settings.invoker_function_name, "invoker Lambda function"),
            "ProxyAddress": (settings.proxy_address, "proxy host, the scheduler VM's private IP"),
            "ProxyPort": (str(settings.proxy_port), "proxy TCP port"),
            "RedisPasswordSecretArn": (settings.redis_password_secret_arn, 'secret {"password": ...}'),
            "ProxySecretArn": (settings.proxy_secret_arn, 'secret {"secret": ...}'),
            "Region": (settings.aws_region, "region of the deployment"),
            "WukongConfig": (
                self.to_json_string(settings.as_config()),
                "the `wukong:` settings the scheduler VM writes to /etc/dask/wukong.yaml",
            ),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)


def allow_invoke(role: iam.IRole | None, *function_arns: str) -> None:
    if role is None:
        raise ValueError("a function or instance without a role cannot be granted lambda:InvokeFunction")
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=list(function_arns))
    )
