"""The HTTP server under `controlplane api`: gunicorn's threaded worker, made to read each request
in its poller before a thread takes it (`worker`), and the framing that tells when a request is
whole (`framing`).

gunicorn's gthread worker gives a connection a thread as soon as it has sent a byte, and the
thread then blocks on the socket until the request is complete: 250 clients that each send half a
request line and stop hold 250 threads, and every REST request waits (docs/operations.md §6.3).
"""
