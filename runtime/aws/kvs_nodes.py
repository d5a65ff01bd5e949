"""A deployment's KV-store nodes, asked of Cloud Map's API once per job by the client.

The stack's Fargate tasks register in Cloud Map (service ``kvs`` in namespace ``wukong.internal``; the
setting ``kvs_service_name`` is ``kvs.wukong.internal:6379``), each with the ``AWS_INSTANCE_IPV4`` and, when
the service has a port, ``AWS_INSTANCE_PORT`` attributes ECS gives its instances. DNS is not asked: a
multivalue answer carries at most 8 records (Route 53 answers with up to eight healthy records, and
different resolvers see different eight when there are more), so a deployment of more nodes would look
smaller, and differently so to every process. ``DiscoverInstances`` returns up to 1000 instances in one
answer. The client sends the list with the job (``protocol.payload.JobSettings.kvs_nodes``).
"""

from __future__ import annotations

from .. import aws_sdk as sdk
from ..config import WukongConfig, parse_address
from ..errors import KvsDiscoveryError
from ..storage.connect import endpoint_nodes

DISCOVER_MAX_RESULTS = 1000  # DiscoverInstances' MaxResults: at most 1000 instances per answer
IPV4_ATTRIBUTE = "AWS_INSTANCE_IPV4"
PORT_ATTRIBUTE = "AWS_INSTANCE_PORT"


def deployment_kvs_nodes(config: WukongConfig) -> tuple[str, ...]:
    """The configured endpoints (``redis_endpoints``), else the Fargate nodes in Cloud Map, else () (no
    Fargate nodes: the MDS holds the outputs)."""
    if config.redis_endpoints:
        return endpoint_nodes(config)
    if config.use_fargate and config.kvs_service_name:
        return discover_kvs_nodes(config)
    return ()


def discover_kvs_nodes(config: WukongConfig, client=None) -> tuple[str, ...]:
    """The healthy nodes of ``config.kvs_service_name`` as sorted "host:port"; raises KvsDiscoveryError."""
    name, default_port = parse_address(config.kvs_service_name, "kvs_service_name")
    service, _, namespace = name.partition(".")
    client = client or sdk.client("servicediscovery", region=config.aws_region)
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
    )  # after the SDK check: botocore comes with boto3

    try:
        answer = client.discover_instances(
            NamespaceName=namespace,
            ServiceName=service,
            MaxResults=DISCOVER_MAX_RESULTS,
            HealthStatus="HEALTHY",  # ECS marks a task that fails its Redis health check unhealthy
        )
    except (BotoCoreError, ClientError) as exc:
        raise KvsDiscoveryError(config.kvs_service_name, str(exc)) from exc
    nodes = set()
    for instance in answer.get("Instances", []):
        attributes = instance.get("Attributes", {})
        if IPV4_ATTRIBUTE in attributes:
            nodes.add(f"{attributes[IPV4_ATTRIBUTE]}:{attributes.get(PORT_ATTRIBUTE, default_port)}")
    if not nodes:
        raise KvsDiscoveryError(config.kvs_service_name, "no healthy instance is registered")
    return tuple(sorted(nodes))
