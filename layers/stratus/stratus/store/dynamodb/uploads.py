"""Claims of S3-driven registrations: ``UPLOAD#<folder>``/``#``, one per dropped model folder (the conditional
write that makes a repeated notification never register a second version)."""

from __future__ import annotations

from functools import partial

from pynamodb.exceptions import DoesNotExist

from stratus.domain.entities import UploadClaim
from stratus.store.dynamodb.errors import translated, written
from stratus.store.dynamodb.items import UploadClaimItem


class DynamoUploadClaims:
    def get(self, folder: str) -> UploadClaim | None:
        with translated():
            try:
                item = UploadClaimItem.get(f"UPLOAD#{folder}", "#", consistent_read=True)
            except DoesNotExist:
                return None
        return UploadClaim(
            folder,
            item.status,
            int(item.claimed_at),
            None if item.version is None else int(item.version),
            item.reason,
        )

    def claim(self, folder: str, now: int, *, taking_over_from: int | None = None) -> bool:
        item = UploadClaimItem(pk=f"UPLOAD#{folder}", sk="#", status="CLAIMED", claimed_at=now)
        condition = (
            UploadClaimItem.pk.does_not_exist()
            if taking_over_from is None
            else UploadClaimItem.claimed_at == taking_over_from
        )
        return written(partial(item.save, condition=condition))

    def put(self, claim: UploadClaim) -> None:
        with translated():
            UploadClaimItem(
                pk=f"UPLOAD#{claim.folder}",
                sk="#",
                status=claim.status,
                claimed_at=claim.claimed_at,
                version=claim.version,
                reason=claim.reason,
            ).save()
