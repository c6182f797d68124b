"""What recording flows costs a plain job on the producer's hot path.

``tracking.message_argv`` builds ENQUEUE's arguments for every job; for a job in a
pipeline, group or chord it also records the flow (``tracking.flow_argv``). This times
``message_argv`` for a plain message as it is, and with the flow check taken out, side by
side in one run (interleaved rounds, best of each), and prints the ratio. Target: <= 1.02.

    python bench/bench_flow_check.py [--rounds 5] [--number 20000]
"""

from __future__ import annotations

import argparse
import inspect
import sys
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from huey import RedisHuey  # noqa: E402

from jobboard import tracking  # noqa: E402
from jobboard.config import TrackingConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--number", type=int, default=20000)
    args = ap.parse_args()
    huey = RedisHuey("bench", immediate=False)

    @huey.task()
    def send(to: str, n: int) -> str:
        return to

    msg = huey._registry.create_message(send.s("a@example.com", 1))
    data = huey.serializer.serialize(msg)
    config = TrackingConfig()
    real = tracking.message_argv
    source = real.__code__

    def with_check() -> None:
        real("b", data, msg, priority=None, utc=True, config=config)

    # The same function with the flow lines compiled out: its code minus the check.
    text = inspect.getsource(real).replace(
        "if on_complete is not None or on_error is not None or msg.chord_config is not None or group:",
        "if False:")
    namespace: dict[str, Any] = {}
    exec(compile(text, source.co_filename, "exec"), vars(tracking), namespace)  # noqa: S102
    bare = namespace["message_argv"]

    def without_check() -> None:
        bare("b", data, msg, priority=None, utc=True, config=config)

    best_with = best_without = float("inf")
    for _ in range(args.rounds):
        best_with = min(best_with, timeit.timeit(with_check, number=args.number))
        best_without = min(best_without, timeit.timeit(without_check, number=args.number))
    per = 1e6 / args.number
    print(f"message_argv, plain job: with the flow check {best_with * per:.2f} us, "
          f"without {best_without * per:.2f} us, ratio {best_with / best_without:.3f}")


if __name__ == "__main__":
    main()
