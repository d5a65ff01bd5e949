"""The instances' AMI: Amazon Linux 2023, chosen when an instance launches, or pinned in context.

``latest_amazon_linux2023()`` resolves the AMI's SSM parameter on every deploy (a stack parameter), so an
unrelated redeploy after an AMI release replaces both instances. An ImageId of ``resolve:ssm:NAME`` is
resolved by EC2 when the instance launches (EC2 User Guide: "Use a Systems Manager parameter to find an
AMI"); CloudFormation sees a constant and keeps the instance. A replacement (new user data) launches with
the newest AMI of that moment.
"""

from __future__ import annotations

import jsii
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

AL2023_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
# cfn-lint and CDK's template validation check ImageId against the ami-* format only; EC2 also accepts
# resolve:ssm: (RunInstances' ImageId), which CDK's resolveSsmParameterAtLaunch exists to produce.
IMAGE_ID_FORMAT_RULE = "E1152"


def amazon_linux_2023(ami_id: str = "") -> ec2.IMachineImage:
    """``ami_id`` (context ``amiId``) pins the image; empty resolves AL2023's parameter at launch."""
    if ami_id:
        return PinnedImage(ami_id)
    return ec2.MachineImage.resolve_ssm_parameter_at_launch(
        AL2023_AMI_PARAMETER, os=ec2.OperatingSystemType.LINUX
    )


@jsii.implements(ec2.IMachineImage)
class PinnedImage:
    """One AMI id as is: the stack is environment-agnostic, so no per-region mapping."""

    def __init__(self, ami_id: str):
        self.ami_id = ami_id

    def get_image(self, scope: Construct) -> ec2.MachineImageConfig:
        return ec2.MachineImageConfig(
            image_id=self.ami_id, os_type=ec2.OperatingSystemType.LINUX, user_data=ec2.UserData.for_linux()
        )


def accept_resolve_at_launch(instance: ec2.Instance) -> None:
    """Acknowledge the ImageId format finding for ``instance``, in CDK's validation and in cfn-lint."""
    Validations.of(instance).acknowledge(
        Acknowledgment(
            id=f"CloudFormation-Validate::{IMAGE_ID_FORMAT_RULE}",
            reason="ImageId is resolve:ssm:<AL2023 parameter>, which EC2 resolves when the instance launches",
        )
    )
    instance.instance.add_metadata("cfn-lint", {"config": {"ignore_checks": [IMAGE_ID_FORMAT_RULE]}})
