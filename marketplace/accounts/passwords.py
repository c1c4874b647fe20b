"""Password hashing with argon2id; parameters come from the app's config."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask

MIN_LENGTH = 10
MAX_LENGTH = 128

_hasher = PasswordHasher(type=Type.ID)
# A hash of a random password, verified when the account is unknown so that the time a login
# takes does not tell whether an e-mail address has an account.
_dummy_hash = ""


def init_app(app: Flask) -> None:
    global _hasher, _dummy_hash
    params = app.config["PASSWORD_HASH"]
    _hasher = PasswordHasher(type=Type.ID, **params)
    _dummy_hash = _hasher.hash("not-a-real-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def burn_time(password: str) -> None:
    verify_password(_dummy_hash, password)
