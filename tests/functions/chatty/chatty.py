"""A function that prints, then answers: for the log-tail tests (tests/tests/stand_in.rs).

The event says how many lines to print ({"lines": N}); the last line printed names the
request, and is written just before the answer, which is where a log pump would miss it.
For the crash tests, {"exit": N} exits with status N once it has the event, and
{"kill_self": true} prints a line, then dies of SIGKILL, before answering. For the size
limits, {"answer_bytes": N} answers a JSON string of N bytes, quotes included.
"""
import json
import os
import signal
import sys
import urllib.request

API = "http://%s/2018-06-01/runtime/invocation" % os.environ["AWS_LAMBDA_RUNTIME_API"]

# CHATTY_INIT_EXIT=N: die during init, before asking for an event, with status N.
if os.environ.get("CHATTY_INIT_EXIT"):
    os._exit(int(os.environ["CHATTY_INIT_EXIT"]))

while True:
    with urllib.request.urlopen(API + "/next") as response:
        request_id = response.headers["lambda-runtime-aws-request-id"]
        event = json.loads(response.read())
    if "exit" in event:
        os._exit(int(event["exit"]))
    for k in range(int(event.get("lines", 1))):
        print("line %d" % k)
    print("last line of %s" % request_id)
    sys.stdout.flush()
    if event.get("kill_self"):
        os.kill(os.getpid(), signal.SIGKILL)
    body = json.dumps({"printed": int(event.get("lines", 1)) + 1}).encode()
    if "answer_bytes" in event:
        body = b'"' + b"a" * (int(event["answer_bytes"]) - 2) + b'"'
    urllib.request.urlopen(urllib.request.Request(API + "/%s/response" % request_id, data=body, method="POST")).read()
