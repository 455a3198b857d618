"""Adapters: the only code that talks to AWS, Stripe, search engines or e-sign providers."""
