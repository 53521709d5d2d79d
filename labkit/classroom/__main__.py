"""``python -m labkit.classroom check | plan | simulate``: :mod:`~labkit.classroom.check`, :mod:`~labkit.classroom.plan`,
:mod:`~labkit.classroom.simulate`."""
import argparse
import sys

from labkit.classroom import check, plan, simulate
from labkit.classroom.plan import positive


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m labkit.classroom",
                                 description="A class on one shared OpenAI-compatible server.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check that the class server does what the course needs (exit 1 if not)")
    c.add_argument("--url", help="default: $OPENAI_BASE_URL")
    c.add_argument("--key", help="default: $OPENAI_API_KEY")
    c.add_argument("--model", help="default: $QWEN_LABS_CLASS_MODEL, else the first listed")
    c.add_argument("--burst", type=positive, help="concurrent requests of the last line (default: $QWEN_LABS_MAX_PARALLEL or 4)")
    p = sub.add_parser("plan", help="print (not run) the capacity estimate and the commands for a class")
    plan.add_arguments(p)
    s = sub.add_parser("simulate", help="rehearse the class: N learners' load tests at once, every answer checked")
    simulate.add_arguments(s)
    args = ap.parse_args(argv)
    if args.command == "check":
        return check.main(args.url, args.key, args.model, args.burst)
    if args.command == "simulate":
        return simulate.main(args)
    return plan.main(args)


sys.exit(main())
