"""Issue, store and load the certificates of a small PKI.

Why this module exists: the guide's ``openssl`` commands produce certificates with
no SubjectAltName and no ExtendedKeyUsage. Modern TLS stacks match host names only
against the SAN, and a strict verifier checks that a client certificate is *meant*
for client authentication. So the lab makes its own certificates, with every
extension a real CA would set, and keeps the deliberately broken variants behind
explicit, self-describing arguments (``expired=True``, ``san=False``,
``eku=["serverAuth"]`` ...), never behind hidden flags.

The shape follows trustme: one :class:`CertificateAuthority` issues leaves, each
leaf (an :class:`IssuedCertificate`) knows how to write itself to disk, export a
``.pfx`` and configure an :class:`ssl.SSLContext`.

Loading (:func:`load_certificate`, :func:`load_private_key`, :func:`load_pkcs12`,
:func:`load_pair`) accepts files made anywhere, including by the guide's own
openssl commands, and turns every failure into a :mod:`lab.errors` exception.
Inspection lives in :mod:`lab.pki.certinfo`, chain verification in :mod:`lab.pki.verify`.

The modules: :mod:`~lab.pki.keys` (key types, key/certificate pairing), :mod:`~lab.pki.fields`
(names, validity, SAN, Key Usage, EKU), :mod:`~lab.pki.authority` (the CA),
:mod:`~lab.pki.issued` (a leaf with its key and chain), :mod:`~lab.pki.files` (reading and
writing), :mod:`~lab.pki.csr` (the checks a CA makes before it signs a CSR). One reader each, used by every other package: :func:`trust_certificates` ("what
do I trust"), :func:`load_identity` ("who am I"), :func:`read_password` (``pfx-password.txt``),
:func:`open_pfx` (a .pfx with that password, as the commands open one).
This package imports nothing of the lab but :mod:`lab.errors`.
"""

from lab.pki.authority import CertificateAuthority, self_signed_client
from lab.pki.files import (
    CERT_SUFFIXES,
    PASSWORD_FILE,
    PFX_SUFFIXES,
    load_certificate,
    load_certificates,
    load_private_key,
    make_folder,
    pem,
    read_password,
    trust_certificates,
    write_private,
    write_public,
)
from lab.pki.issued import (
    IssuedCertificate,
    leaf_files,
    load_identity,
    load_pair,
    load_pkcs12,
    open_pfx,
)
from lab.pki.keys import generate_key

__all__ = [
    "CERT_SUFFIXES",
    "PASSWORD_FILE",
    "PFX_SUFFIXES",
    "read_password",
    "trust_certificates",
    "CertificateAuthority",
    "IssuedCertificate",
    "generate_key",
    "leaf_files",
    "make_folder",
    "load_certificate",
    "load_certificates",
    "load_identity",
    "load_pair",
    "load_pkcs12",
    "open_pfx",
    "load_private_key",
    "pem",
    "self_signed_client",
    "write_private",
    "write_public",
]
