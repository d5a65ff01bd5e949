"""The executor and invoker Lambdas and the dependency layers they share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .constants import EXECUTOR_HANDLER, INVOKER_HANDLER, INVOKER_MEMORY_MB, INVOKER_TIMEOUT_S, PYTHON_VERSION
from .runtime_asset import function_code

RUNTIME = getattr(lambda_.Runtime, "PYTHON_" + PYTHON_VERSION.replace(".", "_"))


class Functions(Construct):
    """``executor`` runs tasks; ``invoker`` starts executors for the leaf burst. Both in the private subnets.

    Their names are fixed (``executor_name``, ``invoker_name``) rather than generated, because the executor
    must know its own name and may invoke only itself: a name known at synthesis avoids a dependency cycle
    between a function and its own role. ``executor_arn``/``invoker_arn`` are built from those names.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        executor_group: ec2.ISecurityGroup,
        invoker_group: ec2.ISecurityGroup,
        layer_dirs: Sequence[Path],
        executor_name: str,
        invoker_name: str,
        memory_mb: int,
        timeout_s: int,
        environment: Mapping[str, str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.executor_name = executor_name
        self.invoker_name = invoker_name
        self.executor_arn = function_arn(self, executor_name)
        self.invoker_arn = function_arn(self, invoker_name)
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
        code = function_code()
        common = dict(
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=code,
            layers=self.layers,
            vpc=vpc,
            vpc_subnets=subnets,
            environment=dict(environment),
        )
        self.executor = lambda_.Function(
            self,
            "Executor",
            function_name=executor_name,
            handler=EXECUTOR_HANDLER,
            description="Wukong executor: runs a static schedule of dask tasks",
            security_groups=[executor_group],
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            log_group=self._log_group("ExecutorLogs"),
            **common,
        )
        self.invoker = lambda_.Function(
            self,
            "Invoker",
            function_name=invoker_name,
            handler=INVOKER_HANDLER,
            description="Wukong invoker: starts one executor per leaf payload",
            security_groups=[invoker_group],
            memory_size=INVOKER_MEMORY_MB,
            timeout=Duration.seconds(INVOKER_TIMEOUT_S),
            log_group=self._log_group("InvokerLogs"),
            **common,
        )

    def _log_group(self, construct_id: str) -> logs.LogGroup:
        return logs.LogGroup(
            self, construct_id, retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )


def function_arn(scope: Construct, name: str) -> str:
    return Stack.of(scope).format_arn(
        service="lambda", resource="function", resource_name=name, arn_format=ArnFormat.COLON_RESOURCE_NAME
    )
