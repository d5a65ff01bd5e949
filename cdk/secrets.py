"""The two shared secrets: the Redis password (MDS and KVS nodes) and the proxy's shared secret."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

PASSWORD_LENGTH = 40


class Secrets(Construct):
    """Generated secrets whose SecretString is JSON: ``{"password": ...}`` and ``{"secret": ...}``.

    Punctuation is excluded because the password goes into a redis.conf line and a shell command.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.redis_password = self._generated(
            "RedisPassword", "password", "Password of the Wukong metadata store and KVS Redis nodes"
        )
        self.proxy_secret = self._generated(
            "ProxySecret", "secret", "Shared secret executors present to the Wukong proxy"
        )

    def _generated(self, construct_id: str, key: str, description: str) -> secretsmanager.Secret:
        return secretsmanager.Secret(
            self,
            construct_id,
            description=description,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key=key,
                exclude_punctuation=True,
                password_length=PASSWORD_LENGTH,
            ),
            removal_policy=RemovalPolicy.DESTROY,  # nothing outlives the stack: the stores are caches
        )
