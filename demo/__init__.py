"""``make demo``: the whole flow through the public HTTP API on a local stack (README, "The demo")."""
