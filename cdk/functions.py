"""The executor Lambda and its dependency layers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .constants import EXECUTOR_HANDLER, PYTHON_VERSION
from .runtime_asset import function_code

RUNTIME = getattr(lambda_.Runtime, "PYTHON_" + PYTHON_VERSION.replace(".", "_"))
# Lambda's maximum: the protocol relies on a retry taking over the run lease of a delivery that died.
ASYNC_RETRY_ATTEMPTS = 2
# What Lambda needs to attach a function to the VPC: the EC2 actions of AWSLambdaVPCAccessExecutionRole.
# That managed policy (and AWSLambdaBasicExecutionRole) also allow logs:CreateLogGroup, CreateLogStream
# and PutLogEvents on every log group of the account: left out, each function writes its own group only.
VPC_ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]


class Functions(Construct):
    """``executor`` runs tasks, in the private subnets. (The seed's invoker function, which started the leaf
    burst from inside AWS, is gone: on the Lambda platform its batches were slower than the client's own
    Invoke threads; benchmarks/README.md has the numbers.)

    Its name is fixed (``executor_name``) rather than generated, because the executor must know its own
    name and may invoke only itself: a name known at synthesis avoids a dependency cycle between a
    function and its own role. ``executor_arn`` is built from that name.
    The executor's asynchronous invocations are configured explicitly: Lambda's retries kept, events
    older than ``max_event_age_s`` dropped, and a record of every event Lambda gave up on sent to
    ``failure_queue``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        executor_group: ec2.ISecurityGroup,
        layer_dirs: Sequence[Path],
        executor_name: str,
        memory_mb: int,
        timeout_s: int,
        max_event_age_s: int,
        failure_queue: sqs.IQueue,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.executor_name = executor_name
        self.executor_arn = function_arn(self, executor_name)
        self.layers = [
            lambda_.LayerVersion(
                self,
                f"Layer{i}-{path.name}",
                code=lambda_.Code.from_asset(str(path)),
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[lambda_.Architecture.X86_64],
                description=f"Wukong executor dependencies: {path.name}",
                removal_policy=RemovalPolicy.DESTROY,
            )
            for i, path in enumerate(layer_dirs)
        ]
        self.executor_logs = self._log_group("ExecutorLogs")
        self.executor = lambda_.Function(
            self,
            "Executor",
            function_name=executor_name,
            handler=EXECUTOR_HANDLER,
            description="Wukong executor: runs a static schedule of dask tasks",
            security_groups=[executor_group],
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            log_group=self.executor_logs,
            role=self._role("ExecutorRole", self.executor_logs),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=Duration.seconds(max_event_age_s),
            on_failure=destinations.SqsDestination(failure_queue),
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=function_code(),
            layers=self.layers,
            vpc=vpc,
            vpc_subnets=subnets,
            environment=dict(environment),
        )

    def _log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self, construct_id, retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )

    def _role(self, construct_id: str, log_group: logs.ILogGroup) -> iam.Role:
        """An execution role that may attach to the VPC and write ``log_group``, nothing more (yet)."""
        # Inline in the role, so the permissions exist before Lambda checks them at CreateFunction.
        return iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            inline_policies={
                "vpc-and-logs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=VPC_ENI_ACTIONS, resources=["*"]),
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[log_group.log_group_arn],
                        ),
                    ]
                )
            },
        )


def function_arn(scope: Construct, name: str) -> str:
    return Stack.of(scope).format_arn(
        service="lambda", resource="function", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
