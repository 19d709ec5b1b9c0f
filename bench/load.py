"""A bounded load on a running Allies server on loopback: applicants and readers at once.

Each of N applicants (a thread of its own) fetches ``GET /apply`` for its CSRF token, session
cookie and the versions of the texts it endorses, waits until every applicant holds a form, then
posts an application with a unique organization name and email, and follows the redirect to
``/apply/thanks``. Meanwhile M readers loop ``GET /allies`` and ``GET /allies.json`` until the
applicants are done (at most ``--reads-per-reader`` each). Every request uses a fresh connection.

Stdlib only; run it as its own process::

    .venv/bin/python bench/load.py --base-url http://127.0.0.1:8000 --applicants 200 --readers 50

Prints requests, statuses, errors, latency p50/p95/max per kind, throughput and wall time
(``--json FILE`` writes the same, plus each applicant's outcome). Exits 1 on any 5xx, connection
error or timeout, or when an applicant does not reach ``/apply/thanks``; 2 on bad arguments.
"""

import argparse
import html
import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from html.parser import HTMLParser

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
VERSION_FIELDS = ("mission_version_id", "vision_version_id", "values_version_id")


class FormParser(HTMLParser):
    """The values of the form's inputs and the options of its selects."""

    def __init__(self):
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.options: dict[str, list[str]] = defaultdict(list)
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name"):
            self.inputs[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select:
            self.options[self._select].append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Recorder:
    """Every request's kind, outcome (a status or an error name) and latency; thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.samples: list[tuple[str, str, float]] = []
        self.failures: list[str] = []

    def add(self, kind: str, outcome: str, seconds: float) -> None:
        with self.lock:
            self.samples.append((kind, outcome, seconds))

    def fail(self, message: str) -> None:
        with self.lock:
            self.failures.append(message)


class Client:
    """HTTP over a fresh connection per request, with a cookie jar of its own."""

    def __init__(self, host: str, port: int, recorder: Recorder, deadline: float, timeout: float):
        self.host, self.port = host, port
        self.recorder = recorder
        self.deadline = deadline
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def request(
        self, kind: str, method: str, path: str, form: dict | None = None
    ) -> Response | None:
        """Send one request; None (recorded as an error) when the connection fails or times out."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.recorder.add(kind, "deadline", 0.0)
            return None
        headers = {"Connection": "close", "User-Agent": "allies-bench-load"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        conn = http.client.HTTPConnection(
            self.host, self.port, timeout=min(self.timeout, remaining)
        )
        try:
            conn.request(method, path, body=body, headers=headers)
            raw = conn.getresponse()
            response = Response(raw.status, raw.headers, raw.read())
        except (OSError, http.client.HTTPException) as exc:
            elapsed = time.perf_counter() - started
            self.recorder.add(kind, type(exc).__name__, elapsed)
            self.recorder.fail(f"{kind} {method} {path}: {type(exc).__name__}: {exc}")
            return None
        finally:
            conn.close()
        self.recorder.add(kind, str(response.status), time.perf_counter() - started)
        if response.status >= 500:
            self.recorder.fail(f"{kind} {method} {path}: HTTP {response.status}")
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if value and "max-age=0" not in header.lower():
                self.cookies[name.strip()] = value
            else:
                self.cookies.pop(name.strip(), None)
        return response


def application_form(n: int, run_id: str, page: FormParser, distinct_names: int) -> dict:
    """A valid application from applicant ``n``, with the tokens and versions of its form.

    Names repeat every ``distinct_names`` applicants (organizations applying twice at once);
    emails and websites are always the applicant's own.
    """
    types = [value for value in page.options.get("type_id", []) if value not in ("", "0")]
    name = f"Load {run_id} Health Org {(n - 1) % distinct_names + 1:04d}"
    form = {
        "csrf_token": page.inputs.get("csrf_token", ""),
        "name": name,
        "website": f"https://org{n}-{run_id}.example.org",
        "type_id": types[n % len(types)] if types else "",
        "city": "Boston",
        "region": "MA",
        "country": "USA",
        "description": f"{name} trains health professionals for underserved communities.",
        "contact_name": f"Pat Applicant {n}",
        "contact_title": "Director",
        "contact_email": f"load-{run_id}-{n}@example.org",
        "contact_phone": "+1 617 555 0100",
        "support_statement": "We support the mission, the vision and the values.",
        "endorse_mission": "y",
        "endorse_vision": "y",
        "endorse_values": "y",
        "signer_name": f"Sam Signer {n}",
        "signer_title": "CEO",
    }
    for field in VERSION_FIELDS:
        form[field] = page.inputs.get(field, "")
    return form


def applicant(n, args, host, port, recorder, deadline, start_gate, form_gate, outcomes):
    client = Client(host, port, recorder, deadline, args.request_timeout)
    outcome = {"n": n, "ok": False, "problem": "unfinished at the hard timeout"}
    outcomes[n] = outcome
    form = None
    start_gate.wait()
    try:
        page = client.request("apply_get", "GET", "/apply")
        if page is None or page.status != 200:
            outcome["problem"] = f"GET /apply: {page.status if page else 'no answer'}"
            return
        parser = FormParser()
        parser.feed(page.text)
        form = application_form(n, args.run_id, parser, args.distinct_names or args.applicants)
        missing = [k for k in ("type_id", *VERSION_FIELDS) if not form[k]]
        if missing:
            outcome["problem"] = "the form lacks " + ", ".join(missing)
            form = None
    finally:
        # Everyone posts at once: wait for the others (a failed applicant still arrives).
        try:
            form_gate.wait(timeout=max(0.0, deadline - time.monotonic()))
        except threading.BrokenBarrierError:
            pass
    if form is None:
        return
    outcome.update(name=form["name"], email=form["contact_email"])
    posted = client.request("apply_post", "POST", "/apply", form)
    if posted is None:
        outcome["problem"] = "POST /apply: no answer"
        return
    location = posted.headers.get("Location", "")
    outcome.update(status=posted.status, location=location)
    if posted.status != 302 or urllib.parse.urlsplit(location).path != "/apply/thanks":
        outcome["problem"] = f"POST /apply: {posted.status} {location}".strip()
        return
    thanks = client.request("thanks", "GET", "/apply/thanks")
    if thanks is None or thanks.status != 200:
        outcome["problem"] = f"GET /apply/thanks: {thanks.status if thanks else 'no answer'}"
        return
    if html.escape(form["name"], quote=True) not in thanks.text and form["name"] not in thanks.text:
        outcome["problem"] = "the thanks page does not name the organization"
        return
    outcome.update(ok=True, problem="")


def reader(r, args, host, port, recorder, deadline, start_gate, applicants_done):
    client = Client(host, port, recorder, deadline, args.request_timeout)
    start_gate.wait()
    for i in range(args.reads_per_reader):
        if applicants_done.is_set() or time.monotonic() >= deadline:
            return
        if (r + i) % 2 == 0:
            response = client.request("allies", "GET", "/allies")
            if response is not None and response.status == 200 and "<html" not in response.text:
                recorder.fail("GET /allies: 200 without a page")
        else:
            response = client.request("allies_json", "GET", "/allies.json")
            if response is not None and response.status == 200:
                try:
                    if "allies" not in json.loads(response.body):
                        recorder.fail("GET /allies.json: no 'allies' key")
                except ValueError:
                    recorder.fail("GET /allies.json: not JSON")
        if response is not None and response.status != 200 and response.status < 500:
            recorder.fail(f"reader {r}: HTTP {response.status}")


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * fraction // 1))
    return sorted_values[int(rank) - 1]


def summarize(recorder: Recorder, outcomes: dict, wall: float, timed_out: bool) -> dict:
    kinds: dict[str, dict] = {}
    for kind in ("apply_get", "apply_post", "thanks", "allies", "allies_json"):
        samples = [s for s in recorder.samples if s[0] == kind]
        if not samples:
            continue
        latencies = sorted(s[2] for s in samples)
        outcomes_count = Counter(s[1] for s in samples)
        kinds[kind] = {
            "requests": len(samples),
            "statuses": {k: v for k, v in sorted(outcomes_count.items()) if k.isdigit()},
            "errors": {k: v for k, v in sorted(outcomes_count.items()) if not k.isdigit()},
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
            "max_ms": round(latencies[-1] * 1000, 1),
            "per_second": round(len(samples) / wall, 1) if wall else 0.0,
        }
    statuses = Counter(s[1] for s in recorder.samples)
    server_errors = sum(v for k, v in statuses.items() if k.isdigit() and int(k) >= 500)
    connection_errors = sum(v for k, v in statuses.items() if not k.isdigit())
    applicants = [outcomes[n] for n in sorted(outcomes)]
    failed = [o for o in applicants if not o["ok"]]
    return {
        "requests": len(recorder.samples),
        "wall_seconds": round(wall, 2),
        "requests_per_second": round(len(recorder.samples) / wall, 1) if wall else 0.0,
        "statuses": {k: v for k, v in sorted(statuses.items()) if k.isdigit()},
        "errors": {k: v for k, v in sorted(statuses.items()) if not k.isdigit()},
        "server_errors": server_errors,
        "connection_errors": connection_errors,
        "timed_out": timed_out,
        "applicants_ok": len(applicants) - len(failed),
        "applicants_failed": len(failed),
        "kinds": kinds,
        "failures": recorder.failures[:50]
        + [f"applicant {o['n']}: {o['problem']}" for o in failed][:50],
        "applicants": applicants,
    }


def report(summary: dict, args) -> str:
    lines = [
        f"load: {args.applicants} applicants, {args.readers} readers "
        f"(≤{args.reads_per_reader} reads each) against {args.base_url}",
        f"requests {summary['requests']} in {summary['wall_seconds']:.2f} s wall "
        f"= {summary['requests_per_second']:.1f} req/s",
        f"statuses {dict(summary['statuses'])}  errors {dict(summary['errors']) or 'none'}"
        + ("  TIMED OUT" if summary["timed_out"] else ""),
        f"applicants reaching /apply/thanks: {summary['applicants_ok']}/{args.applicants}",
        f"{'kind':<12}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  statuses",
    ]
    for kind, k in summary["kinds"].items():
        outcome = ", ".join(f"{s}×{n}" for s, n in {**k["statuses"], **k["errors"]}.items())
        lines.append(
            f"{kind:<12}{k['requests']:>9}{k['per_second']:>8.1f}{k['p50_ms']:>9.1f}"
            f"{k['p95_ms']:>9.1f}{k['max_ms']:>9.1f}  {outcome}"
        )
    for failure in summary["failures"][:20]:
        lines.append(f"FAIL {failure}")
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True, help="http://127.0.0.1:PORT (loopback only)")
    parser.add_argument("--applicants", type=int, default=200)
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument(
        "--reads-per-reader", type=int, default=20, help="the most each reader sends (default 20)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="hard limit for the whole run, seconds"
    )
    parser.add_argument("--request-timeout", type=float, default=60.0, help="per request, seconds")
    parser.add_argument(
        "--distinct-names",
        type=int,
        default=0,
        help="organization names to share among the applicants (default: one each)",
    )
    parser.add_argument("--run-id", default=None, help="makes names unique (default: random)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    url = urllib.parse.urlsplit(args.base_url)
    if url.scheme != "http" or url.hostname not in LOOPBACK_HOSTS or not url.port:
        parser.error("--base-url must be http://127.0.0.1:PORT (loopback only)")
    if args.applicants < 0 or args.readers < 0 or args.reads_per_reader < 0:
        parser.error("counts must not be negative")
    if args.applicants + args.readers > 2000:
        parser.error("at most 2000 concurrent clients")
    args.run_id = args.run_id or uuid.uuid4().hex[:8]
    args.host, args.port = url.hostname, url.port
    return args


def run(args) -> dict:
    recorder = Recorder()
    outcomes: dict[int, dict] = {}
    deadline = time.monotonic() + args.timeout
    start_gate = threading.Event()
    form_gate = threading.Barrier(max(1, args.applicants))
    applicants_done = threading.Event()
    common = (args, args.host, args.port, recorder, deadline, start_gate)
    applicant_threads = [
        threading.Thread(
            target=applicant,
            args=(n, *common, form_gate, outcomes),
            daemon=True,
            name=f"applicant-{n}",
        )
        for n in range(1, args.applicants + 1)
    ]
    reader_threads = [
        threading.Thread(
            target=reader, args=(r, *common, applicants_done), daemon=True, name=f"reader-{r}"
        )
        for r in range(args.readers)
    ]
    for thread in applicant_threads + reader_threads:
        thread.start()
    started = time.perf_counter()
    start_gate.set()
    for thread in applicant_threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    applicants_done.set()
    for thread in reader_threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    wall = time.perf_counter() - started
    timed_out = any(t.is_alive() for t in applicant_threads + reader_threads)
    if timed_out:
        form_gate.abort()
        alive = sum(t.is_alive() for t in applicant_threads + reader_threads)
        recorder.fail(f"hard timeout of {args.timeout:.0f} s: {alive} clients still running")
    with recorder.lock:  # threads still running must not change what is reported
        return summarize(recorder, dict(outcomes), wall, timed_out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run(args)
    print(report(summary, args), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"run_id": args.run_id, **summary}, handle, indent=1)
    failed = (
        summary["server_errors"]
        or summary["connection_errors"]
        or summary["timed_out"]
        or summary["applicants_failed"]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
