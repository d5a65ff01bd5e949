"""A job's KV-store nodes: found in Cloud Map (moto's, in-process) through DiscoverInstances, more than
DNS' eight; sent with the job; one ring for every executor whatever the service says later; a listed node
that is gone fails the job before it starts, naming it."""

from __future__ import annotations

import boto3
import dask
import pytest
from moto import mock_aws

from wukong import Client, LocalCluster
from wukong.aws.kvs_nodes import discover_kvs_nodes
from wukong.config import WukongConfig
from wukong.errors import KvsDiscoveryError, RedisUnreachableError
from wukong.local.redis_server import RedisServer
from wukong.platforms import job_kvs_nodes

REGION = "us-east-1"
SERVICE_NAME = "kvs.wukong.internal:6379"


@pytest.fixture
def cloud_map(monkeypatch):
    """moto's Cloud Map with the stack's namespace and service, as ECS registers the KVS tasks in it."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SERVICEDISCOVERY"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("servicediscovery", region_name=REGION)
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        operation = client.create_private_dns_namespace(Name="wukong.internal", Vpc=vpc)["OperationId"]
        namespace = client.get_operation(OperationId=operation)["Operation"]["Targets"]["NAMESPACE"]
        service = client.create_service(
            Name="kvs", NamespaceId=namespace, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]}
        )["Service"]["Id"]

        def register(task: str, ip: str, port: int | None = None, healthy: bool = True) -> None:
            attributes = {"AWS_INSTANCE_IPV4": ip, **({"AWS_INSTANCE_PORT": str(port)} if port else {})}
            client.register_instance(ServiceId=service, InstanceId=task, Attributes=attributes)
            if not healthy:
                client.update_instance_custom_health_status(
                    ServiceId=service, InstanceId=task, Status="UNHEALTHY"
                )

        yield register


def aws(**changes) -> WukongConfig:
    return WukongConfig(mode="aws", kvs_service_name=SERVICE_NAME, aws_region=REGION, **changes)


def test_more_nodes_than_a_dns_answer_holds_are_all_found(cloud_map):
    for i in range(12):  # a multivalue DNS answer carries at most 8
        cloud_map(f"task{i}", f"10.0.{i}.7")
    nodes = discover_kvs_nodes(aws())
    assert nodes == tuple(sorted(f"10.0.{i}.7:6379" for i in range(12)))  # the service name's port


def test_the_registered_port_wins_and_unhealthy_nodes_are_left_out(cloud_map):
    cloud_map("task-a", "127.0.0.1", 7001)
    cloud_map("task-b", "127.0.0.1", 7002, healthy=False)
    assert job_kvs_nodes(aws()) == ("127.0.0.1:7001",)


def test_no_node_says_where_to_look(cloud_map):
    with pytest.raises(KvsDiscoveryError, match="no healthy instance is registered.*describe-services"):
        discover_kvs_nodes(aws())


def test_explicit_endpoints_and_the_mds_need_no_discovery():
    assert job_kvs_nodes(aws(redis_endpoints=(("10.0.0.2", 6379), ("10.0.0.1", 6379)))) == (
        "10.0.0.1:6379",
        "10.0.0.2:6379",
    )
    assert job_kvs_nodes(aws(use_fargate=False)) == ()
    assert job_kvs_nodes(WukongConfig()) == ()


def test_every_executor_of_a_job_uses_the_nodes_the_client_sent():
    """The workers' own settings name other nodes than the client's (as DNS might answer differently);
    the job's outputs are on the client's nodes only, spread by its ring."""
    password = "kvs-password-for-the-test"
    nodes = [RedisServer(password=password, role="KV store") for _ in range(3)]
    try:
        endpoints = tuple(("127.0.0.1", node.port) for node in nodes)
        with LocalCluster(redis_endpoints=endpoints[:1], kvs_password=password) as cluster:
            cluster.config = cluster.config.replace(
                redis_endpoints=endpoints
            )  # the client's, not the workers'
            client = Client(cluster)
            total = dask.delayed(sum)([dask.delayed(lambda i: i * 2)(i) for i in range(40)])
            assert total.compute(scheduler=client.get) == 2 * sum(range(40))
            used = client.last_report.kvs_bytes_written_by_node
            assert set(used) <= {node.address for node in nodes} and len(used) > 1
    finally:
        for node in nodes:
            node.close()


def test_a_listed_node_that_is_gone_fails_the_job_before_it_starts():
    node = RedisServer(role="KV store")
    with LocalCluster(redis_endpoints=(("127.0.0.1", node.port),), kvs_password=node.password) as cluster:
        client = Client(cluster)
        node.close()
        with pytest.raises(RedisUnreachableError, match=f"KV store Redis at {node.address}"):
            dask.delayed(sum)([1, 2]).compute(scheduler=client.get)
