#!/usr/bin/env python3
"""Server round trip of the marking app: "next answer" and "apply a rubric entry".

Builds a demo batch of N students (``graders.marking.demo``, no grading), starts the app,
and times R requests of each kind, through Flask's test client (the server's own time)
and over real HTTP to a threaded server on 127.0.0.1 (what a browser waits for, less
drawing). Prints median and 90th percentile in milliseconds.

  .venv/bin/python bench/bench_marking.py [--students 40] [--requests 50]
"""
import argparse
import http.client
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graders.marking.app import create_app  # noqa: E402
from graders.marking.demo import build_batch  # noqa: E402

TOKEN = "bench-token"


def _summary(name, seconds):
    ms = sorted(s * 1000 for s in seconds)
    return f"{name:<38} median {statistics.median(ms):6.1f} ms   p90 {ms[int(0.9 * (len(ms) - 1))]:6.1f} ms   (n={len(ms)})"


def _time(call, count):
    out = []
    for i in range(count):
        started = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - started)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="a4-bench-marking-") as scratch:
        out = Path(scratch) / "out"
        build_batch(out, args.students)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = create_app(out, token=TOKEN)
        app.updater.flush(300)  # the pages rewritten at start; time requests on a settled app
        n, count = args.students, args.requests
        client = app.test_client()
        client.get(f"/?token={TOKEN}")
        for i in range(n):  # warm up: PDFs rendered and cached once, as on a TA's first pass
            client.get(f"/q/q1a/{i}")
        versions = {}

        def next_answer(i):
            assert client.get(f"/q/q1a/{(i + 1) % n}").status_code == 200

        def apply_entry(i):
            sid = f"student{i % n + 1}"
            reply = client.post("/api/mark", json={"item": "q2a", "student": sid, "version": versions.get(sid, 0),
                                                   "toggle": "e1"}, headers={"X-Token": TOKEN})
            assert reply.status_code == 200, reply.json
            versions[sid] = reply.json["mark"]["version"]

        lines = [f"marking app, {n} students, {count} requests each "
                 f"(Python {sys.version.split()[0]}; each change fsynced before the reply; pages rewritten "
                 f"in the background meanwhile)",
                 _summary("test client: next answer (GET page)", _time(next_answer, count)),
                 _summary("test client: apply rubric entry (POST)", _time(apply_entry, count))]

        from werkzeug.serving import make_server
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_port
        cookie = None
        probe = http.client.HTTPConnection("127.0.0.1", port)
        probe.request("GET", f"/?token={TOKEN}")
        cookie = probe.getresponse().getheader("Set-Cookie").split(";")[0]
        probe.close()

        def http_call(method, path, body=None):
            connection = http.client.HTTPConnection("127.0.0.1", port)
            headers = {"Cookie": cookie, "X-Token": TOKEN, "Content-Type": "application/json"}
            connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            reply = connection.getresponse()
            data = reply.read()
            connection.close()
            assert reply.status == 200, (reply.status, data[:200])
            return data

        def http_next(i):
            http_call("GET", f"/q/q1a/{(i + 1) % n}")

        def http_apply(i):
            sid = f"student{i % n + 1}"
            reply = json.loads(http_call("POST", "/api/mark", {"item": "q2b", "student": sid,
                                                               "version": versions.get(("b", sid), 0), "toggle": "e1"}))
            versions[("b", sid)] = reply["mark"]["version"]

        lines += [_summary("HTTP: next answer (GET page)", _time(http_next, count)),
                  _summary("HTTP: apply rubric entry (POST)", _time(http_apply, count))]
        started = time.perf_counter()
        app.updater.flush(120)
        lines.append(f"background: pages, grades.csv and written_marks.csv caught up "
                     f"{(time.perf_counter() - started) * 1000:.0f} ms after the last request")
        server.shutdown()
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
