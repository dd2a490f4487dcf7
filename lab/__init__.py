"""mTLS Lab: mutual TLS in Python, done for real.

The packages follow the course's table of contents. The first four are the mTLS
code a learner would take into a service; the rest stand on them:

=================  =====================================================================
``lab.pki``        issue, store, load, describe and verify certificates; sign a checked CSR
``lab.tls``        the two ``SSLContext``\\ s, the mTLS server, the requests client, the caller's identity
``lab.auth``       ``CertificateAuth`` for Flask: policies, cache, problem details, header forwarding
``lab.revocation`` CRLs, the OCSP responder and the OCSP client
``lab.proxy``      nginx in front: one launcher, and the hardened config of ``serve --behind-nginx``
``lab.ops``        expiry monitoring (``pki status``) and the doctor
``lab.course``     the course's own scaffolding: the course PKI, demo apps, observe,
                   diagnose, the failure scenarios and the exercise self-checks
``lab.bench``      ``python -m lab bench``: what mTLS costs, against a baseline in the same run
``lab.cli``        ``python -m lab``
=================  =====================================================================

Top-level modules: ``errors`` (the lab's exceptions, each saying what to do), ``paths``
(where the course keeps files), ``net`` (loopback only; a free port for nginx) and
``housekeeping`` (``reset``).

Imports run one way: ``pki`` <- ``tls`` <- ``auth``/``revocation`` <- ``proxy``/``ops``
<- ``course``/``bench``/``cli``. The mTLS core never imports course code.
"""

__version__ = "0.1.0"
