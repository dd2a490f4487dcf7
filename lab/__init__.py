"""mTLS Lab: mutual TLS in Python, done for real.

The modules, one job each (a notebook reads like their table of contents):

==================  ==========================================================
``lab.pki``         issue, store and load certificates (CA, intermediate, leaves)
``lab.certinfo``    describe a certificate: extensions, thumbprint, SPKI pin
``lab.verify``      verify a chain in-process and say why it fails
``lab.tlsconfig``   the server's and the client's SSLContext
``lab.server``      run a Flask app over mTLS in a background thread
``lab.client``      a requests Session with a client certificate and private trust
``lab.identity``    the client certificate of a request, as claims
``lab.observe``     one call seen from both ends (client's view, server's record)
``lab.demo``        the guide's SecureController ("Hello {subject}")
``lab.cli``         ``python -m lab ...``
==================  ==========================================================
"""

__version__ = "0.1.0"
