"""pytest plugin: argon2 (cffi) replaced by a pure-Python stand-in, to exclude _cffi_backend."""

import hashlib

from marketplace.accounts import passwords


class Stub:
    def hash(self, pw):
        return "stub$" + hashlib.sha256(pw.encode()).hexdigest()

    def verify(self, h, pw):
        if h != self.hash(pw):
            from argon2.exceptions import VerificationError

            raise VerificationError("no")
        return True

    def check_needs_rehash(self, h):
        return False


def init_app(app):
    passwords._hasher = Stub()
    passwords._dummy_hash = passwords._hasher.hash("x")


passwords.init_app = init_app
passwords._hasher = Stub()
