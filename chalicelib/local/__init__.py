"""The embedded local stack: moto in server mode, resource bootstrap and an event pump.

Used by ``make run`` (``python -m chalicelib.local.stack``) and by integration tests. Nothing here is
imported by the Lambda handlers.
"""
