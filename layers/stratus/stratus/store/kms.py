"""Secrets encrypted with the stack's KMS key (webhook secrets): what is stored is KMS ciphertext, so neither the
table, its backups nor its stream ever hold a secret in clear."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import boto3

from stratus.errors import TemporarilyUnavailable

CONTEXT = {"purpose": "stratus-webhook-secret"}


class SecretCipher(Protocol):
    def encrypt(self, plaintext: str) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> str: ...


class KmsCipher:
    """KMS Encrypt/Decrypt with an encryption context, so ciphertext from elsewhere does not decrypt here."""

    def __init__(self, key_id: str, client_factory: Callable[[], Any] = lambda: boto3.client("kms")) -> None:
        self.key_id = key_id
        self._client_factory = client_factory
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def encrypt(self, plaintext: str) -> bytes:
        try:
            answer = self.client.encrypt(KeyId=self.key_id, Plaintext=plaintext.encode(), EncryptionContext=CONTEXT)
        except self.client.exceptions.KMSInternalException as exc:
            raise TemporarilyUnavailable("KMS is temporarily unavailable; retry.") from exc
        return bytes(answer["CiphertextBlob"])

    def decrypt(self, ciphertext: bytes) -> str:
        answer = self.client.decrypt(CiphertextBlob=ciphertext, EncryptionContext=CONTEXT)
        return bytes(answer["Plaintext"]).decode()
