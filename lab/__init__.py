"""mTLS Lab: mutual TLS in Python, done for real.

The modules, one job each (a notebook reads like their table of contents):

=====================  ======================================================================
``lab.pki``            issue, store and load certificates; deliberate flaws through explicit arguments
``lab.certinfo``       describe a certificate (text and HTML); thumbprint, SPKI pin
``lab.verify``         in-process chain verification, with the reason in words
``lab.openssl_guide``  run the guide's own openssl commands, to compare
``lab.coursepki``      the guide's file set in certs/ (`pki init`; `ensure()` for notebooks)
``lab.tlsconfig``      the server's and the client's SSLContext (the only place TLS is configured)
``lab.server``         `MTLSServer`: a WSGI app over mTLS in a background thread, with the server's own record
``lab.client``         `session(identity, trust)`: requests with a client certificate, immune to REQUESTS_CA_BUNDLE
``lab.identity``       the request's client certificate (`peer_certificate`) and `ClientIdentity` claims
``lab.observe``        one call seen from both ends; stable wording of client-side errors
``lab.curl``           run the real curl, one stable line per call
``lab.demo``           the guide's SecureController (`Hello {subject}`)
``lab.problem``        RFC 9457 problem+json responses
``lab.auth``           `CertificateAuth`: certificate authentication and `@authorize` for Flask
``lab.policies``       authorization policies: subject, issuer, pins, SAN patterns, predicates
``lab.certcache``      the validation cache, keyed by thumbprint (like `AddCertificateCache`)
``lab.auth_demo``      stable one-line printouts of auth outcomes for notebook 04
``lab.scenarios/``     the failure catalogue; one module per theme, `@scenario(...)` registers
``lab.diagnose``       `explain()`: category, cause and fix for a pasted error
``lab.doctor``         lint certificate, key and .pfx files
``lab.revocation``     revocation records, CRLs and the CRL checker
``lab.ocsp``           an OCSP responder, queries and the OCSP checker
``lab.proxy``          generate nginx configs and run the real nginx on loopback
``lab.forwarding``     take the client certificate from a proxy header, only from the proxy
``lab.kubernetes``     ingress-nginx annotations and cert-manager manifests
``lab.rotation``       hot-swap a running server's certificate
``lab.renewal``        renew client certificates at two-thirds of their lifetime
``lab.rollover``       CA rollover in the right order (and the wrong one)
``lab.expiry``         expiry monitoring (`pki status`)
``lab.bench``          what mTLS costs, against a same-run baseline
``lab.benchplot``      plots of a benchmark result
``lab.env``            the environment check of notebook 00
``lab.paths``          where the course keeps files; `show()` prints paths relative to the project
``lab.housekeeping``   `reset`: stop what the lab started, remove the generated PKI
``lab.site``           `make html`: the notebooks as a static site
``lab.commands/``      one module per CLI command (`register(subparsers)`); `pki_*.py` add `pki` subcommands (`register_pki`)
``lab.checks/``        exercise self-checks, one module per notebook, reached as `lab.check.exercise_*`
``lab.errors``         the lab's exceptions, each with a what-to-do message
=====================  ======================================================================
"""

__version__ = "0.1.0"
