"""Signing secrets: generated in the Standard Webhooks form, kept encrypted at rest.

A secret is ``whsec_`` + base64 of 32 random bytes (the spec asks for 24 to 64). It is shown
once, in the answer to the command that made it, and never again: the database holds it
encrypted with Fernet (``cryptography``: authenticated AES, a kept library rather than our own
cipher code), under ``WEBHOOK_SECRETS_KEY`` or a key derived from ``SECRET_KEY``. The sender
must read it back to sign, so it cannot be a one-way hash.
"""

from __future__ import annotations

import base64
import hashlib
import secrets as random_source

from cryptography.fernet import Fernet
from django.conf import settings

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(random_source.token_bytes(32)).decode()


def _fernet() -> Fernet:
    material = settings.WEBHOOK_SECRETS_KEY or f"outlay-webhook-secrets:{settings.SECRET_KEY}"
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def encrypt(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
