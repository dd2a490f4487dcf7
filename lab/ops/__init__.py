"""Running mTLS in production: expiry monitoring and the doctor.

* :mod:`lab.ops.expiry`: expiry monitoring (``pki status``).
* :mod:`lab.ops.doctor`: lint certificate, key and ``.pfx`` files (each certificate, chains, key pairs).

Rotation, renewal and CA rollover are not here: notebook 08 writes them out in the few lines
each takes (a new ``SSLContext`` swapped in by ``sni_callback``, two-thirds of the lifetime
from the certificate's dates, trust bundles changed one step at a time).

May import the mTLS core (:mod:`lab.pki`, :mod:`lab.tls`, :mod:`lab.auth`,
:mod:`lab.revocation`); never course code.
"""
