"""Notebook 11's exercise: the owner of ``reports-job`` makes its key and CSR; the CA signs it."""

from __future__ import annotations

from cryptography import x509

from lab.course import coursepki
from lab.course.check import CheckResult, hint, report
from lab.pki import IssuedCertificate
from lab.pki.csr import CSRRefusedError, sign_csr

JOB_CN = "reports-job"
JOB_SPIFFE_ID = "spiffe://lab.test/ns/reports/sa/job"


def exercise_job_csr(job_key, job_csr, call_grpc) -> CheckResult:
    """Play the CA (the same checks as ``python -m lab pki sign``), then call the gRPC service.

    ``call_grpc(key_pem, certificate_pem)`` is the notebook's own client: the check passes
    only when the service, which reads the caller from ``auth_context()``, greets the job.
    """
    if not isinstance(job_csr, x509.CertificateSigningRequest):
        return hint("build job_csr with x509.CertificateSigningRequestBuilder")
    if job_key is None or job_csr.public_key() != job_key.public_key():
        return hint("sign the CSR with job_key, the key the job will use")
    try:
        cert = sign_csr(job_csr, coursepki.ensure().ca, granted_san=[JOB_SPIFFE_ID])
    except CSRRefusedError as exc:
        return hint(f"the CA refuses it: {exc}")
    job = IssuedCertificate(cert, job_key)
    answer = call_grpc(job.key_pem(), job.cert_pem)  # the service greets the CN it authenticated
    return report(
        answer == f"hello {JOB_CN}".encode(),
        f"the CA signed your CSR and the gRPC service answered {answer!r}",
        f"the gRPC service answered {answer!r}: it greets the CN that your CSR asked for",
    )
