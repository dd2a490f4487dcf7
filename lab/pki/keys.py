"""Private keys: the types the lab generates, and the checks that pair a key with its certificate."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

#: Key types the lab can generate. "ec" (ECDSA P-256) is the default: small, fast,
#: and accepted everywhere. The guide uses RSA-4096 for its root and RSA-2048 for
#: leaves. Ed25519 works in TLS 1.3 with OpenSSL 3 (Python's ssl, curl, nginx) but
#: is refused by the WebPKI policy of cryptography's verifier, by browsers, and by
#: many .NET/Windows versions, so use it only to learn that lesson.
KEY_TYPES = ("ec", "rsa2048", "rsa4096", "ed25519")


# --------------------------------------------------------------------------- keys
def generate_key(key_type: str = "ec"):
    """Return a new private key of ``key_type``, one of :data:`KEY_TYPES`."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type in ("rsa2048", "rsa4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r}; choose one of {', '.join(KEY_TYPES)}")


def signature_hash(signing_key):
    """Ed25519 signs without a separate hash; everything else uses SHA-256."""
    return None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def key_matches(cert: x509.Certificate, key) -> bool:
    """True when ``key`` is the private half of the public key in ``cert``.

    cryptography's public keys compare by value (``__eq__`` on every key interface); keys of
    different types are simply unequal.
    """
    return cert.public_key() == key.public_key()


def password_bytes(password: str | bytes | None) -> bytes | None:
    """A password as cryptography takes it: text is UTF-8; None stays None (no password)."""
    return password.encode() if isinstance(password, str) else password


def private_key_pem(key, password: str | bytes | None = None) -> bytes:
    """``key`` as PKCS#8 PEM, encrypted with the best available cipher when a password is given."""
    enc = (
        serialization.BestAvailableEncryption(password_bytes(password))
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
