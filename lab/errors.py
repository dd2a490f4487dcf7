"""The lab's own exceptions.

Every error a learner can cause by pointing the lab at the wrong file, typing the
wrong password or mixing up keys is raised as one of these, with a message that
says what happened *and what to do*. The command line prints that message as one
line instead of a traceback, and notebooks show it as-is.
"""

from __future__ import annotations


class LabError(Exception):
    """Base class: something the learner can fix, explained in the message."""


class MissingFileError(LabError, FileNotFoundError):
    """A certificate, key or bundle file that should exist does not."""


class CorruptFileError(LabError, ValueError):
    """A file exists but is not the PEM/DER/PKCS#12 object we expected."""


class WrongPasswordError(LabError, ValueError):
    """A passphrase or .pfx password did not decrypt the file."""


class PassphraseRequiredError(LabError, ValueError):
    """An encrypted private key was loaded without its passphrase."""


class KeyMismatchError(LabError, ValueError):
    """A private key does not belong to the certificate it was paired with."""


class PKIExistsError(LabError, FileExistsError):
    """Refusing to overwrite an existing CA (that would orphan every certificate it issued)."""


class ServerError(LabError, RuntimeError):
    """A lab server could not start, or failed while running."""


class ForgedHeaderError(LabError, ValueError):
    """A client-certificate header arrived from a peer that is not a trusted proxy."""


class InvalidNameError(LabError, ValueError):
    """A name that must not go into a certificate: control characters, DN separators, too long."""
