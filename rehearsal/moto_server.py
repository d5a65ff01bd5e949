"""moto's server, plus the CloudFormation resource types WukongStack needs that moto's CloudFormation lacks.

Run: ``python -m rehearsal.moto_server -H 127.0.0.1 -p PORT`` (the arguments of ``moto_server``); the
rehearsal and the deploy tests start it through :class:`rehearsal.moto.MotoServer`.

moto implements Secrets Manager's API but not ``AWS::SecretsManager::Secret`` in CloudFormation; without it
every grant on a secret deploys as a policy with no resource, and the secrets' ARNs, which the runtime's
config needs, would be empty. This model creates the secret in moto's own Secrets Manager backend, honouring
``GenerateSecretString`` as AWS does, so the deployed secret is readable with boto3 like a real one.
``AWS::Lambda::EventInvokeConfig`` (the executor's retries, maximum event age and on-failure destination)
is modelled the same way, on moto's Lambda backend, so the deployed function's configuration can be read
back with ``GetFunctionEventInvokeConfig``.
moto finds CloudFormation models by subclassing, so defining the class before the server starts registers it.
Cloud Map and custom resources are left out by the stack's ``wukong:moto`` switch instead
(docs/infrastructure.md); the rehearsal creates the KVS service in moto's Cloud Map API and registers its
stand-in nodes there, as ECS registers the Fargate tasks (``rehearsal/stand_ins.py``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.awslambda.models import lambda_backends
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends
from moto.server import main as moto_main


class CloudFormationSecret(CloudFormationModel):
    # moto's model registry files a class under the second part of its module name ("moto.<service>...").
    __module__ = "wukong_moto.secretsmanager"

    def __init__(self, arn: str, name: str):
        self.arn = arn
        self.name = name

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "Id"

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "Id":
            return self.arn
        raise NotImplementedError(attribute_name)

    @property
    def physical_resource_id(self) -> str:
        return self.arn  # Ref of a secret is its ARN

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudFormationSecret:
        properties = cloudformation_json.get("Properties", {})
        backend = secretsmanager_backends[account_id][region_name]
        created = json.loads(
            backend.create_secret(
                name=properties.get("Name", resource_name),
                secret_string=secret_string(backend, properties),
                secret_binary=None,
                description=properties.get("Description"),
                tags=properties.get("Tags", []),
                kms_key_id=properties.get("KmsKeyId"),
                client_request_token=None,
                replica_regions=[],
                force_overwrite=False,
            )
        )
        return cls(created["ARN"], created["Name"])

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        secretsmanager_backends[account_id][region_name].delete_secret(
            secret_id=resource_name,
            recovery_window_in_days=None,
            force_delete_without_recovery=True,
        )

    def delete(self, account_id: str, region_name: str) -> None:
        secretsmanager_backends[account_id][region_name].delete_secret(
            secret_id=self.arn,
            recovery_window_in_days=None,
            force_delete_without_recovery=True,
        )


class CloudFormationEventInvokeConfig(CloudFormationModel):
    __module__ = "wukong_moto.awslambda"
    CONFIG_KEYS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")

    def __init__(self, function_name: str):
        self.function_name = function_name

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::EventInvokeConfig"

    @property
    def physical_resource_id(self) -> str:
        return self.function_name

    def is_created(self) -> bool:
        return True

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> CloudFormationEventInvokeConfig:
        properties = cloudformation_json["Properties"]
        config = {key: properties[key] for key in cls.CONFIG_KEYS if key in properties}
        for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds"):
            if key in config:
                config[key] = int(config[key])
        function_name = properties["FunctionName"]
        lambda_backends[account_id][region_name].put_function_event_invoke_config(function_name, config)
        return cls(function_name)


def secret_string(backend, properties: dict[str, Any]) -> str | None:
    generate = properties.get("GenerateSecretString")
    if not generate:
        return properties.get("SecretString")
    generated = backend.get_random_password(
        password_length=int(generate.get("PasswordLength", 32)),
        exclude_characters=generate.get("ExcludeCharacters", ""),
        exclude_numbers=_flag(generate.get("ExcludeNumbers")),
        exclude_punctuation=_flag(generate.get("ExcludePunctuation")),
        exclude_uppercase=_flag(generate.get("ExcludeUppercase")),
        exclude_lowercase=_flag(generate.get("ExcludeLowercase")),
        include_space=_flag(generate.get("IncludeSpace")),
        require_each_included_type=_flag(generate.get("RequireEachIncludedType", True)),
    )
    password = json.loads(generated)["RandomPassword"]
    key = generate.get("GenerateStringKey")
    if not key:
        return password
    document = json.loads(generate.get("SecretStringTemplate", "{}"))
    document[key] = password
    return json.dumps(document)


def _flag(value) -> bool:
    return str(value).lower() == "true" if isinstance(value, str) else bool(value)


if __name__ == "__main__":
    sys.exit(moto_main(sys.argv[1:]))
