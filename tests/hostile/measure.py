"""Hostile input against a release `codedeploy-local serve` (issue 26's figures).

Starts serve with the template's functions on a free loopback port, sends the hostile
requests (a 20,000-dot query key, huge list indexes, oversized bodies on every service, a
path that is not UTF-8, a 7 MB invoke), then holds 1,000 slow or idle connections and times
valid Invokes through them. Prints serve's RSS before and after, and the invoke times.
Bounded: every loop has a count, every socket a timeout. Loopback only.

    cargo build --release -p codedeploy-local -p hello -p pre-traffic -p post-traffic
    python3 tests/hostile/measure.py
"""

import pathlib
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = ROOT / "target" / "release"


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def request(endpoint, method, path, body=b"", headers=None):
    req = urllib.request.Request(endpoint + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def hostile(endpoint):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        ("POST", "/", ("Action=GetMetricData&Version=2010-08-01&" + ".".join(["a"] * 20000) + "=1").encode(), form),
        ("POST", "/", b"Action=GetMetricData&Version=2010-08-01&MetricDataQueries.member.8000000.Id=a", form),
        ("POST", "/", b"Action=GetMetricData&Version=2010-08-01&MetricDataQueries.member.1000000000.Id=a", form),
        ("PUT", "/2015-03-31/functions/HelloFunction/aliases/live", b" " * (7 << 20), {}),
        ("POST", "/", b" " * (3 << 20), {"X-Amz-Target": "CodeDeploy_20141006.GetDeployment"}),
        ("POST", "/", b" " * (3 << 20), {"X-Amz-Target": "GraniteServiceVersion20100801.GetMetricData"}),
        ("POST", "/2015-03-31/functions/HelloFunction/invocations", b" " * (7 << 20), {}),
        ("GET", "/2015-03-31/functions/%FF%FE/versions", None, {}),
    ]
    for round_ in range(20):
        for method, path, body, headers in cases:
            status, _ = request(endpoint, method, path, body, headers)
            assert 400 <= status < 500, (path, status)


def invoke(endpoint):
    started = time.monotonic()
    status, _ = request(endpoint, "POST", "/2015-03-31/functions/HelloFunction/invocations?Qualifier=live", b'{"name":"x"}')
    assert status == 200, status
    return time.monotonic() - started


def held_connections(address, count):
    held = []
    for i in range(count):
        s = socket.create_connection(address, timeout=10)
        s.sendall([b"", b"POST / HTTP/1.1\r\nHost: x\r\n",
                   b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"][i % 3])
        held.append(s)
    return held


def main():
    logs = tempfile.TemporaryDirectory()
    serve = subprocess.Popen(
        [str(BIN_DIR / "codedeploy-local"), "serve", "--port", "0", "--template", str(ROOT / "template.yaml"),
         "--bin-dir", str(BIN_DIR), "--log-dir", logs.name],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        endpoint = serve.stdout.readline().strip().split("=", 1)[1]
        host, port = endpoint.rsplit("/", 1)[1].split(":")
        for _ in range(50):
            invoke(endpoint)
        before = rss_kb(serve.pid)
        hostile(endpoint)
        after_hostile = rss_kb(serve.pid)
        print("serve RSS: %.1f MB before, %.1f MB after 160 hostile requests" % (before / 1024, after_hostile / 1024))
        held = held_connections((host, int(port)), 1000)
        times = sorted(invoke(endpoint) for _ in range(20))
        print("valid Invoke with 1,000 slow or idle connections held: median %.1f ms, max %.1f ms (20 invokes)"
              % (times[10] * 1000, times[-1] * 1000))
        for s in held:
            s.close()
        print("serve RSS after: %.1f MB" % (rss_kb(serve.pid) / 1024))
        assert serve.poll() is None, "serve died"
    finally:
        serve.terminate()
        serve.wait(timeout=10)
        logs.cleanup()


if __name__ == "__main__":
    main()
