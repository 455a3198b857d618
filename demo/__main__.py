"""``make demo``: ``python -m demo [--api URL [--env-file FILE]]``.

Without ``--api`` the demo starts its own local stack (``make run`` on free ports, in a temporary directory),
plays the whole flow against it and stops it. With ``--api`` it plays against a running API: against a stack
started with ``make run``, whose ``.local/app.env`` (or ``--env-file``) gives the demo the local side it needs
(the outbox, operator commands, offline payments); against a deployment, it stops with a message at the first
step that needs that side. Exits 0 when every step passed, 1 at the first failure, 2 when stopped for want
of a local side.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from demo.api import Api, DemoFailure
from demo.flow import Demo
from demo.stack import own_stack, side_for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description="The whole Customersonly flow through the public HTTP API.")
    parser.add_argument("--api", metavar="URL", help="play against this running API instead of starting a local stack")
    parser.add_argument(
        "--env-file", type=Path, help="with --api: the local stack's app.env (default: .local/app.env, if it is that API's)"
    )
    args = parser.parse_args(argv)
    if args.env_file and not args.api:
        parser.error("--env-file goes with --api")
    try:
        if args.api:
            return Demo(Api(args.api), side_for(args.api, args.env_file)).run()
        print("Starting a local stack of its own (make run on free ports, in a temporary directory)...", flush=True)
        with own_stack() as stack:
            outcome = Demo(Api(stack.api_url), stack.side).run()
            if outcome == 1:
                print(stack.log_tail(), file=sys.stderr)
            return outcome
    except DemoFailure as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
