"""Use cases. Plain functions that take their ports as arguments; no boto3, Stripe or HTTP here."""
