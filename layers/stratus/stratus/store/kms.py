"""Secrets encrypted with the stack's KMS key (webhook secrets): what is stored is KMS ciphertext, so neither the
table, its backups nor its stream ever hold a secret in clear."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, Protocol

from stratus.errors import TemporarilyUnavailable

CONTEXT = {"purpose": "stratus-webhook-secret"}


def default_client() -> Any:
    """A KMS client. boto3 is imported here, on first use, not at import: with s3transfer, which it pulls in, it is
    about 100 ms of a function's cold import (measured, docs/benchmarks.md), and only webhook secrets need KMS."""
    import boto3

    return boto3.client("kms")


class SecretCipher(Protocol):
    def encrypt(self, plaintext: str) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> str: ...


class KmsCipher:
    """KMS Encrypt/Decrypt with an encryption context, so ciphertext from elsewhere does not decrypt here."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any] = default_client) -> None:
        self.key_id = key_id
        self._client_factory = client_factory

    @cached_property
    def client(self) -> Any:
        """Made on first use, never at import or construction."""
        return self._client_factory()

    def encrypt(self, plaintext: str) -> bytes:
        try:
            answer = self.client.encrypt(KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=CONTEXT)
        except self.client.exceptions.KMSInternalException as exc:
            raise TemporarilyUnavailable("KMS is temporarily unavailable; retry.") from exc
        return bytes(answer["CiphertextBlob"])

    def decrypt(self, ciphertext: bytes) -> str:
        answer = self.client.decrypt(CiphertextBlob=ciphertext, EncryptionContext=CONTEXT)
        return bytes(answer["Plaintext"]).decode()
