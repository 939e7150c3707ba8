"""Console benchmark: the first paint of a large network in Chromium.

The region of bench/doctor.py (1,000 subnets, 10,000 network interfaces in 4 VPCs, 1,000 VPC
functions, a database in each VPC) is written to a store, served by `vpclocal up --no-fabric`,
and the console is opened in Debian's headless Chromium (driven by Playwright). Prints the time
of the topology endpoint (built from the store and answered as JSON) and the page's first
paint of the whole network (from navigation to the frame after the drawing is in the page),
against the goal (<= 2 s).

    .venv/bin/python bench/console.py [--seed N] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BIN, free_port, stop, wait_http
from doctor import populate

GOAL_S = 2.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="vpclocal-bench-console-"))
    populate(args.seed, str(data / "state.db")).close()
    port = free_port()
    proc = subprocess.Popen([str(BIN / "vpclocal"), "up", "--port", str(port), "--data-dir",
                             str(data), "--no-fabric"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + "/_vpclocal/health", timeout=120)
        served = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            with urllib.request.urlopen(url + "/_vpclocal/console/topology", timeout=60) as r:
                size = len(r.read())
            served.append(time.perf_counter() - start)
        print(f"topology endpoint: median {statistics.median(served):.3f} s, "
              f"{size / 1e6:.1f} MB of JSON")
        paints, fetched, built, nodes = [], [], [], 0
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(args.repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(url + "/_vpclocal/console")
                page.wait_for_selector("body[data-drawn]", timeout=120_000)
                # ms from the navigation's start to the frame after the drawing
                paints.append(float(page.evaluate("document.body.dataset.drawn")) / 1000)
                marks = page.evaluate("Object.fromEntries(performance.getEntriesByType('mark')"
                                      ".map(m => [m.name, m.startTime / 1000]))")
                fetched.append(marks["topology"])
                built.append(marks["dom"])
                nodes = page.locator(".node").count()  # those near the screen
                status = page.inner_text("#status")
                # the doctor and the bill (asked after the drawing) answered: the next load
                # does not queue behind them on the server
                page.wait_for_selector("#doctor > *", timeout=120_000)
                page.wait_for_selector("#cost > *", timeout=120_000)
                page.close()
            browser.close()
        print(f"drawn: {status} ({nodes} nodes in the page near the screen)")
        print(f"in the page (median): topology received at {statistics.median(fetched):.3f} s, "
              f"drawing in the DOM at {statistics.median(built):.3f} s")
        median = statistics.median(paints)
        print(f"first paint: median {median:.3f} s, worst {max(paints):.3f} s of {args.repeat} "
              f"loads (goal <= {GOAL_S} s): {'ok' if median <= GOAL_S else 'MISSED'}")
        return 0 if median <= GOAL_S else 1
    finally:
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
