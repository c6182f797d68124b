"""What the pages' languages cost: server time of a failed tab of 100 rows, per language.

One private redis-server, 100 failed jobs run through a real consumer, the dashboard in
this process through Flask's test client. The failed tab with ``per_page=100`` is the page
with the most numbers and times to format (about 5 per row). Each language's median of
``--repeat`` renders, measured interleaved so that drift hits all alike; the ratios are
against English in the same run. With ``--before DIR`` (another checkout, e.g.
``git archive main | tar -x -C /tmp/base``) its English page is measured the same way in a
subprocess and printed beside, with the ratio of this checkout's English to it.

    python bench/bench_i18n.py [--repeat 200] [--before DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from pathlib import Path


def measure(root: Path, languages: list[str], repeat: int) -> dict[str, float]:
    """Median ms per render of the failed tab in each language, with the code in ``root``."""
    sys.path.insert(0, str(root))
    import jobboard
    from flask import Flask
    from jobboard import JobBoard
    from jobboard.redis_server import RedisServer

    # this checkout's bench helper, whichever jobboard is measured (appended: shadows nothing)
    sys.path.append(str(Path(__file__).resolve().parent))
    from fail import fail_jobs

    logging.getLogger("huey").setLevel(logging.CRITICAL)  # a traceback per failing job
    with RedisServer() as server:
        huey = jobboard.RedisHuey("bench", url=server.url)

        @huey.task(name="charge_card")
        def charge_card(customer: int, amount: float) -> None:
            raise RuntimeError(f"card declined for customer {customer}")

        fail_jobs(huey, 100, timeout=120)
        app = Flask("bench")
        app.config.update(SECRET_KEY="bench", JOBBOARD_API_TOKENS={"t": "viewer"})
        JobBoard(app, hueys=[huey])
        client = app.test_client()
        url = "/admin/queues/queues/bench?state=failed&per_page=100"
        times: dict[str, list[float]] = {lang: [] for lang in languages}

        def get(lang: str) -> None:
            resp = client.get(url, headers={"Authorization": "Bearer t", "Accept-Language": lang})
            assert resp.status_code == 200 and resp.get_data().count(b"data-job-id") == 100

        for lang in languages:
            for _ in range(5):
                get(lang)  # warm up: templates compiled, catalogs loaded
        for _ in range(repeat):
            for lang in languages:
                t0 = time.perf_counter()
                get(lang)
                times[lang].append(time.perf_counter() - t0)
    return {lang: statistics.median(t) * 1000 for lang, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--before", help="another checkout: its English page, measured the same way")
    ap.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # the subprocess's answer
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent), help=argparse.SUPPRESS)
    ap.add_argument("--languages", default="en,es,pt-BR", help=argparse.SUPPRESS)
    args = ap.parse_args()
    result = measure(Path(args.root), args.languages.split(","), args.repeat)
    if args.json:
        print(json.dumps(result))
        return
    print(f"failed tab, 100 rows, median of {args.repeat} renders")
    for lang, ms in result.items():
        print(f"  {lang:<6} {ms:7.2f} ms   x{ms / result['en']:.2f} of English")
    if args.before:
        out = subprocess.run([sys.executable, __file__, "--json", "--root", args.before,
                              "--languages", "en", "--repeat", str(args.repeat)],
                             check=True, capture_output=True, text=True).stdout
        before = json.loads(out.strip().splitlines()[-1])["en"]
        print(f"  before {before:7.2f} ms   (English, {args.before}); this checkout's English "
              f"x{result['en'] / before:.2f} of it")


if __name__ == "__main__":
    main()
