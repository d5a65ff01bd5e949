"""WukongStack: assembles the constructs, grants who may do what, and outputs every endpoint and name."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from .constants import KVS_NAMESPACE, KVS_SERVICE, LOGIN_USER
from .failure_queue import FailureQueue
from .functions import Functions
from .kv_store import KeyValueStore
from .metadata_store import MetadataStore
from .nag import acknowledge_findings
from .network import Network
from .scheduler_host import SchedulerHost
from .secrets import Secrets
from .wukong_config import PROXY_ADDRESS_PLACEHOLDER, DeploymentSettings

# redis:7.2.16-alpine, the image index (all platforms) as docker-library/repo-info lists it
# (repos/redis/remote/7.2.16-alpine.md at commit 1742085a); ECR Public's docker/library is Docker's mirror of
# the official images. By digest: a tag can move, and every node must run the same Redis.
KVS_IMAGE = (
    "public.ecr.aws/docker/library/redis:7.2.16-alpine"
    "@sha256:ccd6aa8d45ff3f033d6fa15b8cc1a50579f65c89f38cf9bb607a954c4f2128ed"
)


@dataclass(frozen=True)
class WukongStackProps:
    """Everything ``app.py`` reads from context, plus the built layers. Units are in the names."""

    layer_dirs: tuple[Path, ...]
    vm_bundle: Path  # the scheduler VM's wheels and their hashed pins (layers/build.py build_vm_bundle)
    ssh_cidr: str = "127.0.0.1/32"  # closed until the operator says where SSH comes from
    key_name: str = ""  # an existing EC2 key pair; empty: connect with Session Manager or Instance Connect
    mds_instance_type: str = "m6i.large"
    scheduler_instance_type: str = "m6i.large"
    kvs_image: str = KVS_IMAGE
    kvs_node_count: int = 2
    kvs_node_cpu: int = 1024  # Fargate CPU units: 1024 = 1 vCPU
    kvs_node_memory_mib: int = 4096
    lambda_memory_mb: int = 3008
    lambda_timeout_s: int = 900
    job_timeout_s: int = 600  # the runtime's default job deadline; the executor's maximum event age
    zones: tuple[str, ...] = ()  # empty: the region's first two zones; the instances go into the first
    ami_id: str = ""  # empty: Amazon Linux 2023's latest, resolved when an instance launches
    # moto cannot deploy Cloud Map nor custom resources (they run Lambdas); see docs/infrastructure.md.
    moto_compatible: bool = False


class WukongStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, props: WukongStackProps, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.network = Network(
            self,
            "Network",
            ssh_cidr=props.ssh_cidr,
            zones=props.zones,
            restrict_default_security_group=not props.moto_compatible,
        )
        self.secrets = Secrets(self, "Secrets")
        self.failure_queue = FailureQueue(self, "ExecutorFailures")
        private = self.network.private_subnets
        self.metadata_store = MetadataStore(
            self,
            "MetadataStore",
            vpc=self.network.vpc,
            subnets=private,
            security_group=self.network.redis_group,
            password=self.secrets.redis_password,
            instance_type=props.mds_instance_type,
            network_ready=self.network.private_egress,
            ami_id=props.ami_id,
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
            network_ready=self.network.private_egress,
        )
        settings = DeploymentSettings(
            host=self.metadata_store.address,
            redis_password_secret_arn=self.secrets.redis_password.secret_arn,
            kvs_service_name=self.kv_store.endpoint,
            executor_function_name=f"{self.stack_name}-Executor",
            aws_region=self.region,
            proxy_address=PROXY_ADDRESS_PLACEHOLDER,
            proxy_secret_arn=self.secrets.proxy_secret.secret_arn,
            lambda_memory_mb=props.lambda_memory_mb,
            failure_queue_url=self.failure_queue.queue.queue_url,
            job_timeout_s=props.job_timeout_s,
        )
        self.scheduler = SchedulerHost(
            self,
            "Scheduler",
            vpc=self.network.vpc,
            subnets=self.network.public_subnets,
            security_group=self.network.scheduler_group,
            instance_type=props.scheduler_instance_type,
            vm_bundle=props.vm_bundle,
            settings=settings,
            key_name=props.key_name,
            ami_id=props.ami_id,
            # Its readiness check reaches the MDS (ready: a signal) and resolves the KVS nodes' name.
            ready_first=[*self.network.public_egress, self.metadata_store.instance, self.kv_store.service],
        )
        self.settings = replace(settings, proxy_address=self.scheduler.private_ip)
        self.functions = Functions(
            self,
            "Functions",
            vpc=self.network.vpc,
            subnets=private,
            executor_group=self.network.executor_group,
            layer_dirs=props.layer_dirs,
            executor_name=settings.executor_function_name,
            memory_mb=props.lambda_memory_mb,
            timeout_s=props.lambda_timeout_s,
            max_event_age_s=props.job_timeout_s,
            failure_queue=self.failure_queue.queue,
            environment=self.settings.as_environment(),
        )
        self.grant_access()
        self.add_outputs(props.key_name)
        acknowledge_findings(self)

    def grant_access(self) -> None:
        functions, secrets = self.functions, self.secrets
        for secret in (secrets.redis_password, secrets.proxy_secret):
            for grantee in (functions.executor, self.scheduler.instance):
                secret.grant_read(grantee)
        # The executor continues a schedule by invoking itself; it may invoke nothing else.
        allow_invoke(functions.executor.role, functions.executor_arn)
        allow_invoke(self.scheduler.instance.role, functions.executor_arn)
        # LocalCluster reads the executor's concurrency at start (wukong.aws.concurrency) and watches the
        # failure queue while jobs run (wukong.aws.failures).
        self.scheduler.instance.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:GetFunctionConcurrency"], resources=[functions.executor_arn])
        )
        self.scheduler.instance.add_to_role_policy(  # an account-level read: it has no resource to name
            iam.PolicyStatement(actions=["lambda:GetAccountSettings"], resources=["*"])
        )
        self.failure_queue.queue.grant_consume_messages(self.scheduler.instance)
        # The client finds each job's KVS nodes with Cloud Map's API (wukong.aws.kvs_nodes): DNS answers
        # with at most 8 of them. DiscoverInstances takes no resource; its conditions name the service.
        self.scheduler.instance.add_to_role_policy(
            iam.PolicyStatement(
                actions=["servicediscovery:DiscoverInstances"],
                resources=["*"],
                conditions={
                    "StringEquals": {
                        "servicediscovery:NamespaceName": KVS_NAMESPACE,
                        "servicediscovery:ServiceName": KVS_SERVICE,
                    }
                },
            )
        )

    def add_outputs(self, key_name: str) -> None:
        scheduler, settings, kvs, functions = self.scheduler, self.settings, self.kv_store, self.functions
        outputs = {
            "SchedulerPublicDns": (scheduler.public_dns_name, "public DNS name of the scheduler VM"),
            "SchedulerPublicIp": (scheduler.public_ip, "public IP address of the scheduler VM"),
            "SchedulerInstanceId": (
                scheduler.instance.instance_id,
                "instance id (Session Manager, Instance Connect)",
            ),
            "SshCommand": (login_command(self, key_name), "log in to the scheduler VM"),
            "MdsAddress": (settings.host, "metadata store Redis, host:port (setting `host`)"),
            "MdsInstanceId": (
                self.metadata_store.instance.instance_id,
                "metadata store instance (Session Manager)",
            ),
            "KvsServiceName": (
                settings.kvs_service_name,
                "KVS nodes' DNS name:port (setting `kvs_service_name`)",
            ),
            "KvsClusterName": (kvs.cluster.cluster_name, "ECS cluster of the KVS nodes"),
            "KvsEcsServiceName": (kvs.service.service_name, "ECS service of the KVS nodes"),
            "ExecutorFunctionName": (settings.executor_function_name, "executor Lambda function"),
            "ExecutorLogGroup": (
                functions.executor_logs.log_group_name,
                "the executors' CloudWatch log group",
            ),
            "KvsLogGroup": (kvs.log_group.log_group_name, "the KVS nodes' CloudWatch log group"),
            "FailureQueueUrl": (
                settings.failure_queue_url,
                "events Lambda gave up on (setting `failure_queue_url`)",
            ),
            "ProxyAddress": (settings.proxy_address, "proxy host, the scheduler VM's private IP"),
            "ProxyPort": (str(settings.proxy_port), "proxy TCP port"),
            "RedisPasswordSecretArn": (settings.redis_password_secret_arn, 'secret {"password": ...}'),
            "ProxySecretArn": (settings.proxy_secret_arn, 'secret {"secret": ...}'),
            "Region": (settings.aws_region, "region of the deployment"),
            "WukongConfig": (
                self.to_json_string(settings.as_config()),
                "the `wukong:` settings the scheduler VM writes to /etc/dask/wukong.yaml (its own IP as proxy)",
            ),
            # Outputs appear when the stack is CREATE_COMPLETE, which the instances' CreationPolicy holds
            # back until both signalled their readiness checks: CI waits for the stack, then reads this.
            "Ready": (
                f"mds={self.metadata_store.instance.instance_id} scheduler={scheduler.instance.instance_id}",
                "present once both instances passed their boot readiness checks (CreationPolicy signals)",
            ),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)


def login_command(stack: WukongStack, key_name: str) -> str:
    """ssh with the key pair when there is one; else Session Manager (then `sudo su - ec2-user`)."""
    scheduler = stack.scheduler
    if key_name:
        return f"ssh -i {key_name}.pem {LOGIN_USER}@{scheduler.public_dns_name}"
    return f"aws ssm start-session --region {stack.region} --target {scheduler.instance.instance_id}"


def allow_invoke(role: iam.IRole | None, *function_arns: str) -> None:
    if role is None:
        raise ValueError("a function or instance without a role cannot be granted lambda:InvokeFunction")
    role.add_to_principal_policy(
        iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=list(function_arns))
    )
