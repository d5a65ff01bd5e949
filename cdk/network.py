"""The VPC and the security groups that say who may talk to whom."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct, IDependable

from .constants import PROXY_PORT, REDIS_PORT, SSH_PORT

LOG_RETENTION = logs.RetentionDays.ONE_MONTH
DEFAULT_ZONE_COUNT = 2  # without context zones: the region's first two (Fn::GetAZs order)


class Network(Construct):
    """Two AZs (``zones``, or the region's first two) with public and private subnets, one NAT gateway,
    a flow log, and three security groups. The instances go into the first zone.

    - ``executor_group``: the executor Lambdas.
    - ``scheduler_group``: the scheduler VM; SSH from ``ssh_cidr``, the proxy port from the executors.
    - ``redis_group``: the metadata store and the KVS nodes; Redis only from executors and scheduler.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ssh_cidr: str,
        zones: Sequence[str] = (),
        restrict_default_security_group: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.zones = tuple(zones)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=None if self.zones else DEFAULT_ZONE_COUNT,
            availability_zones=list(self.zones) or None,
            nat_gateways=1,  # one NAT for both AZs: the cheap choice for a research cluster
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
            ],
            restrict_default_security_group=restrict_default_security_group,
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
        )
        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogGroup",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.flow_log = self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(self.flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,  # rejected traffic is what debugging a cluster needs
        )

        self.executor_group = self._group("Executor", "Wukong executor Lambdas")
        self.scheduler_group = self._group("Scheduler", "Wukong scheduler and proxy VM")
        self.redis_group = self._group("Redis", "Wukong metadata store and KVS Redis nodes")

        self.scheduler_group.add_ingress_rule(
            ec2.Peer.ipv4(ssh_cidr),
            ec2.Port.tcp(SSH_PORT),
            "SSH from the operator's network (context sshCidr)",
        )
        self.scheduler_group.add_ingress_rule(
            self.executor_group, ec2.Port.tcp(PROXY_PORT), "executors hand large fan-outs to the proxy"
        )
        for peer, who in ((self.executor_group, "executors"), (self.scheduler_group, "scheduler and proxy")):
            self.redis_group.add_ingress_rule(peer, ec2.Port.tcp(REDIS_PORT), f"Redis from the {who}")

    def _group(self, construct_id: str, description: str) -> ec2.SecurityGroup:
        return ec2.SecurityGroup(
            self, construct_id, vpc=self.vpc, description=description, allow_all_outbound=True
        )

    @property
    def private_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)

    @property
    def public_subnets(self) -> ec2.SubnetSelection:
        return ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)

    @property
    def private_egress(self) -> list[IDependable]:
        """The private subnets' default routes through the NAT gateway: what booting there needs."""
        return [subnet.internet_connectivity_established for subnet in self.vpc.private_subnets]

    @property
    def public_egress(self) -> list[IDependable]:
        """The public subnets' default routes to the internet gateway."""
        return [subnet.internet_connectivity_established for subnet in self.vpc.public_subnets]
