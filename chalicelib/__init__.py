"""Customersonly backend: the shared sales organisation of consultancy agencies."""

__version__ = "0.1.0"
