"""Running mTLS in production: rotation, renewal, expiry monitoring and the doctor.

* :mod:`lab.ops.rotation`: hot-swap a running server's certificate.
* :mod:`lab.ops.renewal`: renew client certificates at two-thirds of their lifetime.
* :mod:`lab.ops.expiry`: expiry monitoring (``pki status``).
* :mod:`lab.ops.doctor`: lint certificate, key and ``.pfx`` files (reading, chains, key pairs).
* :mod:`lab.ops.lint`: the doctor's judgement of one certificate (role, dates, key, EKU, SAN).
* :mod:`lab.ops.background`: the polling thread the renew loop and the file watcher share.

May import the mTLS core (:mod:`lab.pki`, :mod:`lab.tls`, :mod:`lab.auth`,
:mod:`lab.revocation`); never course code.
"""
