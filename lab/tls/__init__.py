"""TLS for both ends: the two ``SSLContext``\\ s, the server, the client, the caller's identity.

* :mod:`lab.tls.contexts`: the only place the lab configures TLS (server and client contexts).
* :mod:`lab.tls.server`: ``MTLSServer``, a WSGI app over mTLS in a background thread, with the
  server's own record of refused handshakes and its connections on cheroot
  (:mod:`lab.tls.connection`).
* :mod:`lab.tls.client`: ``session(identity, trust)``, requests with a client certificate, right
  even when ``REQUESTS_CA_BUNDLE`` is set.
* :mod:`lab.tls.identity`: the request's client certificate and its claims.
* :mod:`lab.tls.failures`: a refused handshake (the server's view) or a failed call (the
  client's), in one stable line.

May import :mod:`lab.pki` and :mod:`lab.errors`; nothing else of the lab.
"""
