"""Loopback stand-ins for what a deployment runs on instances and Fargate: ``redis-server``s for the
metadata store and each KVS node, with the deployment's password, and the KVS nodes' registration in
Cloud Map, as ECS registers its tasks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from wukong.config import parse_address
from wukong.local.redis_server import RedisServer
from wukong.storage.connect import KVS_ROLE, MDS_ROLE

KVS_DNS_TTL_S = 10  # the stack's (cdk/constants.py KVS_DNS_TTL_S); Cloud Map wants one for an A record


@dataclass
class RedisStandIns:
    """``mds`` and ``kvs`` nodes (one ``redis-server`` each) on free loopback ports."""

    password: str
    kvs_count: int
    mds: RedisServer | None = None
    kvs: list[RedisServer] = field(default_factory=list)

    def start(self) -> RedisStandIns:
        try:
            self.mds = RedisServer(password=self.password, role=MDS_ROLE)
            self.kvs = [RedisServer(password=self.password, role=KVS_ROLE) for _ in range(self.kvs_count)]
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in [self.mds, *self.kvs]:
            if server is not None:
                with contextlib.suppress(Exception):
                    server.close()

    @property
    def processes(self) -> list:
        return [server.process for server in [self.mds, *self.kvs] if server is not None]


def register_kvs_nodes(
    servicediscovery, *, service_name: str, vpc_id: str, nodes: list[RedisServer], ecs_names=None
):
    """Create the stack's Cloud Map namespace and service (moto's CloudFormation has no Cloud Map; the
    stack's ``wukong:moto`` switch leaves them out) and register each node as ECS registers a Fargate
    task: ``AWS_INSTANCE_IPV4`` and ``AWS_INSTANCE_PORT`` (here the stand-in's own port: they share one
    address) and the ECS names. Returns the instance ids."""
    name, _ = parse_address(service_name, "kvs_service_name")
    service, _, namespace = name.partition(".")
    operation = servicediscovery.create_private_dns_namespace(Name=namespace, Vpc=vpc_id)["OperationId"]
    namespace_id = servicediscovery.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
    service_id = servicediscovery.create_service(
        Name=service,
        NamespaceId=namespace_id,
        DnsConfig={"DnsRecords": [{"Type": "A", "TTL": KVS_DNS_TTL_S}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},  # ECS reports each task's health
    )["Service"]["Id"]
    instances = []
    for number, node in enumerate(nodes):
        instance_id = f"rehearsal-kvs-task-{number}"
        attributes = {
            "AWS_INSTANCE_IPV4": "127.0.0.1",
            "AWS_INSTANCE_PORT": str(node.port),
            **(ecs_names or {}),
        }
        servicediscovery.register_instance(
            ServiceId=service_id, InstanceId=instance_id, Attributes=attributes
        )
        instances.append(instance_id)
    return instances
