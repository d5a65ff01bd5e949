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
ANY_RESOURCE = "Resource::*"

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
PASSWORD_ROTATION = (
    "The Redis password is read once when redis-server starts (on the MDS at boot, on each KVS node at task "
    "start); rotating it would lock every running executor and node out until all restart. It is random, "
    "40 characters, readable only by this stack's roles, and replaced by redeploying."
)
PROXY_SECRET_ROTATION = (
    "The proxy's shared secret is read once by the proxy when it starts on the scheduler VM and once by each "
    "warm executor; rotating it would make the proxy refuse every executor holding the old one until all "
    "are recycled. It is random, 40 characters, readable only by this stack's roles, replaced by redeploying."
)
PYTHON_PINNED = (
    "Python 3.11 is pinned on purpose (cdk/constants.py PYTHON_VERSION): cloudpickle needs the same minor "
    "version on the scheduler VM and in Lambda, and the layers are built for it."
)
VPC_NETWORK_INTERFACES = (
    "The EC2 network-interface actions of AWSLambdaVPCAccessExecutionRole, which Lambda needs to attach the "
    "function to the private subnets; AWS grants them on * in that managed policy (the Describe actions "
    "support no resource-level permissions). Its log actions on * are left out: the role writes only the "
    "function's own log group."
)
ACCOUNT_SETTINGS = (
    "lambda:GetAccountSettings reads the account's Lambda concurrency quota (read-only, account-level: the "
    "action has no resource to scope to). LocalCluster sizes task grouping with it at start. "
    "servicediscovery:DiscoverInstances (read-only) has no resource either; its conditions limit it to the "
    "KVS service of this stack's namespace, whose nodes the client lists for every job."
)
FAILURE_QUEUE_WITHOUT_DLQ = (
    "The queue is itself the executor's on-failure destination: the scheduler VM reads and deletes the "
    "records of its jobs, and the rest age out after an hour. A dead-letter queue would only keep stale "
    "records of jobs that already ended."
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
    _acknowledge(stack.scheduler.instance, ("AwsSolutions-IAM5", ACCOUNT_SETTINGS, [ANY_RESOURCE]))
    _acknowledge(stack.secrets.redis_password, ("AwsSolutions-SMG4", PASSWORD_ROTATION))
    _acknowledge(stack.secrets.proxy_secret, ("AwsSolutions-SMG4", PROXY_SECRET_ROTATION))
    executor = stack.functions.executor
    _acknowledge(executor, ("AwsSolutions-L1", PYTHON_PINNED))
    _acknowledge(executor.role, ("AwsSolutions-IAM5", VPC_NETWORK_INTERFACES, [ANY_RESOURCE]))
    _acknowledge(stack.failure_queue.queue, ("AwsSolutions-SQS3", FAILURE_QUEUE_WITHOUT_DLQ))
    _acknowledge(stack.kv_store.cluster, ("AwsSolutions-ECS4", CONTAINER_INSIGHTS))


def _acknowledge(construct, *findings: tuple) -> None:
    """Each finding is (rule id, reason) or (rule id, reason, [what it applies to])."""
    suppressions = [
        NagPackSuppression(id=rule, reason=reason, applies_to=applies_to[0] if applies_to else None)
        for rule, reason, *applies_to in findings
    ]
    NagSuppressions.add_resource_suppressions(construct, suppressions, apply_to_children=True)
