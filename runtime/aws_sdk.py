"""The one place that imports the AWS SDK, so that its absence says what to install."""

from __future__ import annotations

import importlib

from .errors import AwsExtraMissingError


def boto3_module():
    """``boto3``, or :class:`AwsExtraMissingError` naming ``pip install 'wukong[aws]'``."""
    try:
        return importlib.import_module("boto3")
    except ImportError as exc:
        raise AwsExtraMissingError(exc.name or "boto3") from exc


def client(service: str, *, region: str, endpoint_url: str = "", config=None):
    return boto3_module().client(
        service, region_name=region, endpoint_url=endpoint_url or None, config=config
    )
