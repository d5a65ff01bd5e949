"""The key-value store (KVS): a Fargate service of Redis nodes, found through Cloud Map DNS."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct, IDependable

from .constants import KVS_DNS_TTL_S, KVS_NAMESPACE, KVS_SERVICE, REDIS_PORT

REDIS_MEMORY_FRACTION = 0.8  # leave the rest of the task's memory to Redis' own overhead and buffers
# The official image's unprivileged user (its Dockerfile: adduser -S -G redis -u 999 redis). The image's
# entry point stays: it only drops privileges itself when started as root.
REDIS_USER = "redis"
# Written by the container's shell from the injected secret, so the password is on no command line.
REDIS_AUTH_FILE = "/tmp/wukong-redis.conf"


class KeyValueStore(Construct):
    """``node_count`` Redis tasks, each ``cpu`` units and ``memory_mib`` MiB, password from Secrets Manager.

    Every node registers an A record under ``dns_name`` ("kvs.wukong.internal"); the runtime resolves it and
    places keys on the nodes by consistent hashing. ``endpoint`` is the ``kvs_service_name`` setting.
    With ``service_discovery=False`` (the moto test: moto has no Cloud Map) the records are left out;
    ``dns_name`` is still what they would be. ``image`` is pinned by digest (context ``kvsImage``). The
    service is created after ``network_ready`` (the private subnets' NAT route: tasks pull the image).
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
        image: str,
        node_count: int,
        cpu: int,
        memory_mib: int,
        service_discovery: bool = True,
        network_ready: Sequence[IDependable] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.dns_name = f"{KVS_SERVICE}.{KVS_NAMESPACE}"
        self.endpoint = f"{self.dns_name}:{REDIS_PORT}"
        self.namespace = (
            servicediscovery.PrivateDnsNamespace(
                self, "Namespace", name=KVS_NAMESPACE, vpc=vpc, description="Wukong service discovery"
            )
            if service_discovery
            else None
        )
        self.cluster = ecs.Cluster(self, "Cluster", vpc=vpc)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        self.task_definition = ecs.FargateTaskDefinition(self, "Task", cpu=cpu, memory_limit_mib=memory_mib)
        self.container = self.task_definition.add_container(
            "redis",
            image=ecs.ContainerImage.from_registry(image),
            user=REDIS_USER,
            command=["sh", "-c", redis_command(int(memory_mib * REDIS_MEMORY_FRACTION))],
            secrets={"REDIS_PASSWORD": ecs.Secret.from_secrets_manager(password, "password")},
            port_mappings=[ecs.PortMapping(container_port=REDIS_PORT)],
            logging=ecs.LogDrivers.aws_logs(stream_prefix="kvs", log_group=self.log_group),
            health_check=ecs.HealthCheck(
                command=["CMD-SHELL", 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping | grep -q PONG'],
                interval=Duration.seconds(15),
                timeout=Duration.seconds(5),
                retries=3,
            ),
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            desired_count=node_count,
            security_groups=[security_group],
            vpc_subnets=subnets,
            assign_public_ip=False,
            min_healthy_percent=50,  # roll nodes half at a time; a job in flight may lose a node's keys
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),  # fail fast if Redis cannot start
            cloud_map_options=ecs.CloudMapOptions(
                name=KVS_SERVICE,
                cloud_map_namespace=self.namespace,
                dns_record_type=servicediscovery.DnsRecordType.A,
                dns_ttl=Duration.seconds(KVS_DNS_TTL_S),
            )
            if self.namespace
            else None,
        )
        self.service.node.add_dependency(*network_ready)


def redis_command(max_memory_mb: int) -> str:
    """The container's shell script: the password goes into a config file only Redis' user reads."""
    # noeviction: an evicted intermediate output would be a wrong result later; an error is better.
    return (
        f'umask 077 && printf \'requirepass "%s"\\n\' "$REDIS_PASSWORD" > {REDIS_AUTH_FILE} && '
        f"exec redis-server {REDIS_AUTH_FILE} --port {REDIS_PORT} --protected-mode no "
        f"--save '' --appendonly no --maxmemory {max_memory_mb}mb --maxmemory-policy noeviction"
    )
