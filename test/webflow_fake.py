#!/usr/bin/env python3
# Stateful local fake of the Webflow Data API v2 (https://api.webflow.com/v2),
# for the tests of the webflow PostgreSQL extension. Python 3 stdlib only.
#
#   python3 test/webflow_fake.py --port 0 --fixture test/fixture.json \
#       --port-file DIR/fake.port [--rate-limit N] [--log-file F]
#
# API base URL: http://127.0.0.1:PORT/v2 ; fault controls, request log and
# stats: http://127.0.0.1:PORT/_admin/ (see test/fake_webflow/admin.py).
import argparse
import os
import signal
import sys

sys.dont_write_bytecode = True  # keep the source tree clean (and read-only friendly)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_webflow.server import FakeServer  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description="Webflow Data API v2 fake")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--fixture", default=os.path.join(here, "fixture.json"))
    ap.add_argument("--port-file", help="write the listening port here (atomically)")
    ap.add_argument("--rate-limit", type=int, default=None,
                    help="requests per minute and token (0 = unlimited)")
    ap.add_argument("--log-file", help="append one line per request here")
    args = ap.parse_args()

    server = FakeServer(("127.0.0.1", args.port), args.fixture, args.log_file,
                        args.rate_limit)
    port = server.server_address[1]
    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    print("listening on 127.0.0.1:%d" % port, flush=True)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
