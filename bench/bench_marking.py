#!/usr/bin/env python3
"""Server round trip of the marking app: "next answer" and "apply a rubric entry".

Builds a demo batch of N students (``graders.marking.demo``, no grading), starts the app,
and times R requests of each kind, through Flask's test client (the server's own time)
and over real HTTP to a threaded server on 127.0.0.1 (what a browser waits for, less
drawing). Prints median and 90th percentile in milliseconds.

``--bounded``: the two unbounded costs of issue 17 (item 8), side by side in one run. A slow
PDF (``--pages`` pages of ``--strokes`` curves each, small on disk, slow for PDFium): the
first view of that student as the app had it (the view drew the PDF itself, and every
visit while it was drawing did the same) beside the view now (the background renderer);
then what is recorded. Answers of ``--formulas`` formulas: drawn with the caps lifted (as
before) beside drawn with them, time and page size.

  .venv/bin/python bench/bench_marking.py [--students 40] [--requests 50] [--latency 0.3]

The HTTP part also times what the page's queue sends for a burst of three rubric keys (three
POSTs in order, each with the version of the previous reply, as "apply"/"remove") and a change
from a stale tab merged by the server (issue 18).
  .venv/bin/python bench/bench_marking.py --bounded [--pages 60] [--strokes 40000] [--formulas 25000]
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


def write_slow_pdf(path, pages, strokes):
    """A PDF whose every page draws ``strokes`` small Bezier curves (one shared content stream)."""
    import random
    import zlib
    rnd = random.Random(0)
    ops = []
    for _ in range(strokes):
        x, y = rnd.random() * 600, rnd.random() * 800
        ops.append(f"{x:.1f} {y:.1f} m {x + 3:.1f} {y + 9:.1f} {x + 7:.1f} {y - 5:.1f} {x + 2:.1f} {y + 1:.1f} c S")
    content = zlib.compress(("0.1 w\n" + "\n".join(ops)).encode())
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{4 + p} 0 R' for p in range(pages))}] /Count {pages} >>".encode(),
               f"<< /Length {len(content)} /Filter /FlateDecode >>\nstream\n".encode() + content + b"\nendstream"]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R >>"] * pages
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    Path(path).write_bytes(bytes(out))


def bench_slow_pdf(scratch, pages, strokes):
    """First view of a student with a slow PDF: drawn by the view (before) beside the background renderer."""
    from graders.reports import pdf
    out = Path(scratch) / "pdf-out"
    build_batch(out, 2)
    write_slow_pdf(out / "pdfs" / "student1.pdf", pages, strokes)
    started = time.perf_counter()
    before = pdf.render(out / "pdfs" / "student1.pdf", Path(scratch) / "drawn-by-the-view")
    old_view = time.perf_counter() - started
    app = create_app(out, token=TOKEN, start_updater=False)
    client = app.test_client()
    client.get(f"/?token={TOKEN}")
    new_views = _time(lambda i: client.get("/q/q1a/0").status_code, 5)
    started = time.perf_counter()
    app.batch.pdfs.idle(3600)
    background = time.perf_counter() - started + sum(new_views)
    note = client.get("/q/q1a/0").get_data(as_text=True).split('id="pdf-note">')[-1].split("<")[0]
    return [f"slow PDF: {pages} pages x {strokes} curves ({(out / 'pdfs' / 'student1.pdf').stat().st_size // 1024} KiB)",
            f"  before: the first view drew it: {old_view:6.1f} s (and every visit meanwhile the same; "
            f"bounded here at {pdf.TIMEOUT} s, where the old view waited up to 120 s and then showed no page); "
            f"{before.pages} pages, {before.problem or 'no note'}",
            f"  now:    a view {statistics.median(new_views) * 1000:6.1f} ms (median of 5 while drawing), "
            f"ratio {old_view / statistics.median(new_views):,.0f}x; drawn once in the background in {background:.1f} s",
            f"          note shown: {note.strip() or '(none: every page drawn)'}"]


def bench_formulas(count):
    """Four answers of ``count`` formulas each: drawn with the caps lifted (before) beside with them."""
    from graders.reports import render
    answers = [" ".join(f"$\\frac{{a_{{{i}}}}}{{b_{k}}}$" for i in range(count)) for k in range(4)]
    caps = {name: getattr(render, name) for name in ("MAX_TEXT", "MAX_FORMULAS", "MAX_FORMULA", "MAX_MATH")}
    results = []
    for label, limits in (("caps lifted (before)", {name: 10**12 for name in caps}), ("capped (now)", caps)):
        for name, value in limits.items():
            setattr(render, name, value)
        render._draw.cache_clear()
        started = time.perf_counter()
        size = sum(len(render.to_html(text)) for text in answers)
        results.append((label, time.perf_counter() - started, size))
    lines = [f"four answers of {count:,} formulas ({len(answers[0]):,} characters each)"]
    lines += [f"  {label:<22} {seconds:7.2f} s  {size / 2**20:8.2f} MiB of HTML" for label, seconds, size in results]
    lines.append(f"  ratio: {results[0][1] / results[1][1]:,.0f}x the time, {results[0][2] / results[1][2]:,.0f}x "
                 f"the HTML")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--bounded", action="store_true", help="the slow PDF and the many formulas, before and now")
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--strokes", type=int, default=40000)
    parser.add_argument("--formulas", type=int, default=25000)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds each request first sleeps (the app's INJECT_LATENCY_S: an SSH tunnel)")
    args = parser.parse_args(argv)
    if args.bounded:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        with tempfile.TemporaryDirectory(prefix="a4-bench-bounded-") as scratch:
            print("\n".join(bench_formulas(args.formulas) + bench_slow_pdf(scratch, args.pages, args.strokes)))
        return 0
    with tempfile.TemporaryDirectory(prefix="a4-bench-marking-") as scratch:
        out = Path(scratch) / "out"
        build_batch(out, args.students)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        app = create_app(out, token=TOKEN)
        app.updater.flush(300)  # the pages rewritten at start; time requests on a settled app
        app.batch.pdfs.idle(600)  # and the PDFs drawn in the background
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

        def http_burst(i):  # keys "1", "2", "3" at once: the page's queue sends them in order
            sid = f"student{i % n + 1}"
            for entry in ("e1", "e2", "e3"):
                wanted = "remove" if (i // n) % 2 else "apply"
                reply = json.loads(http_call("POST", "/api/mark", {"item": "q3b", "student": sid, wanted: [entry],
                                                                   "version": versions.get(("c", sid), 0)}))
                versions[("c", sid)] = reply["mark"]["version"]

        def http_stale(i):  # another TA's tab, still at version 0: "apply e1" merged on the newer record
            reply = json.loads(http_call("POST", "/api/mark", {"item": "q2b", "student": f"student{i % n + 1}",
                                                               "version": 0, "apply": ["e2"]}))
            assert reply["merged"], reply

        app.config["INJECT_LATENCY_S"] = args.latency
        if args.latency:
            lines.append(f"(each HTTP request first sleeps {args.latency * 1000:.0f} ms: injected latency)")
        lines += [_summary("HTTP: next answer (GET page)", _time(http_next, count)),
                  _summary("HTTP: apply rubric entry (POST)", _time(http_apply, count)),
                  _summary("HTTP: burst of 3 keys, queued in order", _time(http_burst, count)),
                  _summary("HTTP: stale apply, merged by the server", _time(http_stale, count))]
        app.config["INJECT_LATENCY_S"] = 0.0
        started = time.perf_counter()
        app.updater.flush(120)
        lines.append(f"background: pages, grades.csv and written_marks.csv caught up "
                     f"{(time.perf_counter() - started) * 1000:.0f} ms after the last request")
        server.shutdown()
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
