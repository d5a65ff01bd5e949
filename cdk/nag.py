"""cdk-nag AwsSolutions findings this stack accepts, each on the resources it concerns and with its reason.

cdk-nag 2.x: the checks run as an Aspect (see app.py) and report unacknowledged findings as error
annotations; ``NagSuppressions`` records an acknowledgement in the resource's metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdk_nag import NagPackSuppression, NagSuppressions

if TYPE_CHECKING:
    from .stack import WukongStack

MANAGED_POLICY = "Policy::arn:<AWS::Partition>:iam::aws:policy/"
SSM_CORE = MANAGED_POLICY + "AmazonSSMManagedInstanceCore"
LAMBDA_BASIC = MANAGED_POLICY + "service-role/AWSLambdaBasicExecutionRole"
LAMBDA_VPC = MANAGED_POLICY + "service-role/AWSLambdaVPCAccessExecutionRole"
ASSET_BUCKET_OBJECTS = (
    "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*"
)

SINGLE_INSTANCE = (
    "The metadata store and the scheduler are single, replaceable instances: their state is one job's "
    "cache and the installed runtime, both rebuilt from the stack. Termination protection would block "
    "`cdk destroy`, and an Auto Scaling group of one adds nothing a re-deploy does not give."
)
BASIC_MONITORING = (
    "Five-minute basic monitoring is enough for a research cluster that lives for a few experiments; "
    "detailed monitoring costs per instance and metric. Per-job figures come from Wukong's own job report."
)
SESSION_MANAGER = (
    "AmazonSSMManagedInstanceCore is the documented minimum for Session Manager, the way into the private "
    "metadata store (no SSH there) and a fallback way into the scheduler."
)
ROTATION = (
    "The Redis password is read once when redis-server starts (on the MDS at boot, on each KVS node at task "
    "start); rotating it would lock every running executor and node out until all restart. It is random, "
    "40 characters, readable only by this stack's roles, and replaced by redeploying."
)
PYTHON_PINNED = (
    "Python 3.11 is pinned on purpose (cdk/constants.py PYTHON_VERSION): cloudpickle needs the same minor "
    "version on the scheduler VM and in Lambda, and the layers are built for it."
)
LAMBDA_LOGS = "AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs."
LAMBDA_VPC_ACCESS = (
    "AWSLambdaVPCAccessExecutionRole is what Lambda needs to attach network interfaces in the private "
    "subnets; its EC2 actions cannot be scoped to resources."
)
ASSET_READ = (
    "CDK's grantRead on the runtime asset: read-only access to the CDK bootstrap asset bucket, from which "
    "the scheduler VM downloads the runtime at boot. Object keys are content hashes, not known in advance."
)
CONTAINER_INSIGHTS = (
    "The KVS nodes are plain Redis containers whose CPU and memory show in ECS' standard service metrics; "
    "Container Insights would add per-task metric charges for little more."
)


def acknowledge_findings(stack: WukongStack) -> None:
    instances = (stack.metadata_store.instance, stack.scheduler.instance)
    for instance in instances:
        _acknowledge(
            instance,
            ("AwsSolutions-EC29", SINGLE_INSTANCE),
            ("AwsSolutions-EC28", BASIC_MONITORING),
            ("AwsSolutions-IAM4", SESSION_MANAGER, [SSM_CORE]),
        )
    _acknowledge(
        stack.scheduler.instance,
        (
            "AwsSolutions-IAM5",
            ASSET_READ,
            [
                "Action::s3:GetBucket*",
                "Action::s3:GetObject*",
                "Action::s3:List*",
                ASSET_BUCKET_OBJECTS,
            ],
        ),
    )
    for secret in (stack.secrets.redis_password, stack.secrets.proxy_secret):
        _acknowledge(secret, ("AwsSolutions-SMG4", ROTATION))
    for function in (stack.functions.executor, stack.functions.invoker):
        _acknowledge(
            function,
            ("AwsSolutions-L1", PYTHON_PINNED),
            ("AwsSolutions-IAM4", LAMBDA_LOGS, [LAMBDA_BASIC]),
            ("AwsSolutions-IAM4", LAMBDA_VPC_ACCESS, [LAMBDA_VPC]),
        )
    _acknowledge(stack.kv_store.cluster, ("AwsSolutions-ECS4", CONTAINER_INSIGHTS))


def _acknowledge(construct, *findings: tuple) -> None:
    """Each finding is (rule id, reason) or (rule id, reason, [what it applies to])."""
    suppressions = [
        NagPackSuppression(id=rule, reason=reason, applies_to=applies_to[0] if applies_to else None)
        for rule, reason, *applies_to in findings
    ]
    NagSuppressions.add_resource_suppressions(construct, suppressions, apply_to_children=True)
