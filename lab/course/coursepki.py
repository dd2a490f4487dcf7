"""The guide's file set on disk: what ``python -m lab pki init`` writes.

The guide's openssl commands make ``rootCA.pem``/``rootCA.key``, ``server.crt``/
``server.key``, ``client.crt``/``client.key`` and two ``.pfx`` files. The lab
writes the same names, so every later command of the guide (and its curl test)
works unchanged, but the certificates are made properly: the server certificate
has a SAN for localhost and 127.0.0.1 and EKU serverAuth, the client certificate
(CN=MyTrustedClient, as in the guide) has EKU clientAuth.

The .pfx password: the guide uses a placeholder, ``"pfx-password"``, which ends up
in real repositories. Unless you choose one with ``--password``, the lab
generates a random password and stores it in ``pfx-password.txt`` (mode 0600)
beside the bundles: nothing guessable, nothing to remember.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from lab.errors import LabError, MissingFileError, PKIExistsError
from lab.paths import certs_dir, show
from lab.pki import (
    PASSWORD_FILE,
    CertificateAuthority,
    IssuedCertificate,
    leaf_files,
    load_pair,
    make_folder,
    read_password,
    write_private,
)
from lab.pki.fields import check_common_name

#: Every file ``init`` writes: it refuses to start when any of them exists (without --force).
INIT_FILES = (
    *"rootCA.pem rootCA.key server.crt server.key server.pfx client.crt client.key client.pfx".split(),
    PASSWORD_FILE,
)
#: Files a client may never replace, even with --force: the CA's, the server's, the revocation
#: record. Lower case: on macOS and Windows ``ROOTCA.key`` *is* ``rootCA.key``.
PKI_FILES = {n.lower() for n in INIT_FILES if not n.startswith("client.")} | {
    "crl.pem",
    "crl.crlnumber",
}


@dataclass
class CoursePKI:
    """The course PKI loaded from disk: the CA, the server and client identities, the paths."""

    dir: Path
    ca: CertificateAuthority
    server: IssuedCertificate
    client: IssuedCertificate
    password: str

    @property
    def ca_file(self) -> Path:
        return self.dir / "rootCA.pem"

    def file(self, name: str) -> Path:
        return self.dir / name


def init(
    directory: str | os.PathLike | None = None,
    *,
    key_type: str = "ec",
    password: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write the guide's file set into ``directory`` (``certs/`` by default)."""
    d = Path(directory) if directory else certs_dir()
    existing = [name for name in INIT_FILES if (d / name).exists()]
    if existing and not force:  # every file it would overwrite, named (as easy-rsa and step-ca do)
        one = len(existing) == 1
        raise PKIExistsError(
            f"{', '.join(existing)} already exist{'s' * one} in {show(d)}; `pki init` would "
            f"overwrite {'it' if one else 'them'}: every certificate the CA issued would be "
            "orphaned, the keys and the .pfx password lost. Use --force to start over, or "
            "`pki issue` to add certificates"
        )
    make_folder(d)  # 0700; a file or a link to nothing there is one clear line
    leaf_type = "rsa2048" if key_type.startswith("rsa") else key_type
    root_type = "rsa4096" if key_type.startswith("rsa") else key_type  # the guide's sizes
    ca = CertificateAuthority.create("mTLS Lab Root CA", key_type=root_type)
    server = ca.issue_server("localhost", "127.0.0.1", key_type=leaf_type)
    client = ca.issue_client("MyTrustedClient", key_type=leaf_type)
    password = password or secrets.token_urlsafe(18)
    written = [*ca.write(d / "rootCA")]
    for name, ident in (("server", server), ("client", client)):
        written += ident.write(d / name)
        written.append(ident.to_pkcs12(d / f"{name}.pfx", password))
    written.append(write_private(d / PASSWORD_FILE, (password + "\n").encode()))
    return written


def issue_client(name: str, directory: str | os.PathLike | None = None, **options) -> list[Path]:
    """Add ``NAME.crt``, ``NAME.key`` and ``NAME.pfx``, signed by the course CA (``options``:
    those of :meth:`~lab.pki.CertificateAuthority.issue_client`, such as ``days``).

    Issuing an existing NAME again renews it. NAME must be a plain file name whose files
    are none of the PKI's own (:func:`client_files`), whatever the caller: the command line
    and a notebook get the same refusal.
    """
    d = Path(directory) if directory else certs_dir()
    client_files(d, name)
    ca = load_ca(d)
    ident = ca.issue_client(name, **options)
    password = read_password(d) or secrets.token_urlsafe(18)
    return [*ident.write(d / name), ident.to_pkcs12(d / f"{name}.pfx", password)]


def client_files(directory: Path, name: str) -> list[Path]:
    """The files a client NAME would write, refused if any is a file of the PKI itself.

    Decided before anything is written, with the suffixes the writer uses, and compared
    without case: ``rootCA.key`` (a CA key overwritten orphans every certificate), ``Server``
    (the server's identity on a case-insensitive disk) and ``crl`` are all refused.
    """
    if not name or name != Path(name).name or name.startswith(".") or "\\" in name:
        raise LabError(
            f"{name!r} is not a plain file name; NAME becomes NAME.crt, NAME.key and NAME.pfx "
            f"in the PKI folder: use letters, digits, '-' or '_'"
        )
    check_common_name(name)  # control characters, '=' or ',', longer than 64: before any file
    planned = [*leaf_files(directory / name), directory / f"{name}.pfx"]
    taken = [p.name for p in planned if p.name.lower() in PKI_FILES]
    if taken:
        raise PKIExistsError(
            f"a client named {name!r} would write {', '.join(taken)}, a file of the CA or the "
            f"server (or the CRL); choose another name"
        )
    return planned


def load_ca(directory: str | os.PathLike | None = None) -> CertificateAuthority:
    d = Path(directory) if directory else certs_dir()
    if not (d / "rootCA.pem").exists():
        raise MissingFileError(
            f"no CA in {show(d)}: run `python -m lab pki init --dir {show(d)}` first"
        )
    return CertificateAuthority.load(d / "rootCA.pem", d / "rootCA.key")


def load(directory: str | os.PathLike | None = None) -> CoursePKI:
    d = Path(directory) if directory else certs_dir()
    ca = load_ca(d)
    return CoursePKI(
        d,
        ca,
        load_pair(d / "server.crt", d / "server.key"),
        load_pair(d / "client.crt", d / "client.key"),
        read_password(d) or "",
    )


def ensure() -> CoursePKI:
    """Create the course PKI in ``certs/`` if it is missing (idempotent), then load it.
    Notebooks call this."""
    if not (certs_dir() / "rootCA.pem").exists():
        init()
    return load()
