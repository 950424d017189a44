"""A whole stack at scale (issue 23): a template with FUNCTIONS gradual functions (each the
`hello` example, Canary10Percent5Minutes, an errors alarm of its own) sharing one pair of
hooks (the stack example's: a watch on a lease per function), rehearsed by `codedeploy-local
deploy` at the default speed (x60). Prints the real time it took and the peak memory of the
whole process tree (the stand-in and every function process), sampled every 50 ms.

    BIN_DIR=target/release FUNCTIONS=20 python3 tests/bench-hooks/stack.py

A benchmark, not a test: it asserts nothing about speed.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = ROOT / "hooks-examples" / "stack"


def arn(service, resource):
    return {"Fn::Sub": "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s" % (service, resource)}


def function(index):
    return {
        "Type": "AWS::Serverless::Function",
        "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "hello"}},
        "Properties": {
            "CodeUri": str(STACK.parent / "hello"),
            "Timeout": 15,
            "AutoPublishAlias": "live",
            "DeploymentPreference": {
                "Type": "Canary10Percent5Minutes",
                "Alarms": [{"Ref": "Errors%d" % index}],
                "Hooks": {"PreTraffic": {"Ref": "PreTrafficHook"}, "PostTraffic": {"Ref": "PostTrafficHook"}},
            },
        },
    }


def alarm(name):
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "Namespace": "AWS/Lambda", "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": name}},
                           {"Name": "Resource", "Value": {"Fn::Sub": "${%s}:live" % name}}],
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1, "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        },
    }


def hook(binary, name, statements, timeout):
    return {
        "Type": "AWS::Serverless::Function",
        "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}},
        "Properties": {
            "FunctionName": {"Fn::Sub": "CodeDeployHook_${AWS::StackName}_%s" % name},
            "CodeUri": str(STACK.parent / binary), "Timeout": timeout,
            "DeploymentPreference": {"Enabled": False},
            "Environment": {"Variables": {"CODEDEPLOY_HOOKS_WATCHED_BY": {"Ref": "PreTrafficHook"}}}
            if binary == "post-traffic" else {"Variables": {}},
            "Policies": [{"Statement": statements}],
        },
    }


def template(count):
    names = ["Function%d" % i for i in range(count)]
    groups = [arn("codedeploy", "deploymentgroup:${ServerlessDeploymentApplication}/${%sDeploymentGroup}" % n)
              for n in names]
    versions = [{"Ref": "%s.Version" % n} for n in names]
    aliases = [{"Fn::Sub": "${%s.Arn}:live" % n} for n in names]
    application = arn("codedeploy", "application:${ServerlessDeploymentApplication}")
    pre_self = arn("lambda", "function:CodeDeployHook_${AWS::StackName}_pre")
    common = [
        {"Effect": "Allow", "Action": ["codedeploy:PutLifecycleEventHookExecutionStatus",
                                       "codedeploy:GetDeployment", "codedeploy:StopDeployment"],
         "Resource": groups},
        {"Effect": "Allow", "Action": ["codedeploy:GetApplicationRevision"], "Resource": application},
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": versions + aliases},
        {"Effect": "Allow", "Action": ["lambda:GetAlias"], "Resource": aliases},
        {"Effect": "Allow", "Action": ["cloudwatch:GetMetricData"], "Resource": "*"},
    ]
    pre = common + [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": pre_self},
        {"Effect": "Allow", "Action": ["lambda:GetAlias", "lambda:UpdateAlias"],
         "Resource": arn("lambda", "function:CodeDeployHook_${AWS::StackName}_pre:watch-lease*")},
    ]
    post = common + [
        {"Effect": "Allow", "Action": ["lambda:GetAlias"], "Resource": {"Fn::Sub": "${PreTrafficHook.Arn}:watch-lease*"}},
    ]
    resources = {"PreTrafficHook": hook("pre-traffic", "pre", pre, 900),
                 "PostTrafficHook": hook("post-traffic", "post", post, 60)}
    lease = {"Type": "AWS::Lambda::Alias", "Properties": {
        "FunctionName": {"Ref": "PreTrafficHook"}, "FunctionVersion": "$LATEST", "Name": "watch-lease"}}
    resources["WatchLease"] = lease
    for i, n in enumerate(names):
        resources[n] = function(i)
        resources["Errors%d" % i] = alarm(n)
        resources["Lease%d" % i] = {"Type": "AWS::Lambda::Alias", "Properties": {
            "FunctionName": {"Ref": "PreTrafficHook"}, "FunctionVersion": "$LATEST",
            "Name": {"Fn::Sub": "watch-lease-${%s}" % n}}}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"Runtime": "provided.al2023", "Handler": "bootstrap", "MemorySize": 128}},
        "Resources": resources,
    }


def tree_rss_kb(root):
    """The RSS of `root` and every descendant, from /proc, and how many processes."""
    children = {}
    for status in pathlib.Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        children.setdefault(int(fields["PPid"]), []).append((int(fields["Pid"]), fields.get("VmRSS", "0 kB")))
    total, count, todo = 0, 1, [root]
    while todo:
        for pid, rss in children.get(todo.pop(), []):
            total += int(rss.split()[0])
            count += 1
            todo.append(pid)
    try:
        own = pathlib.Path("/proc/%d/status" % root).read_text()
        total += next(int(l.split()[1]) for l in own.splitlines() if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        pass
    return total, count


def main():
    count = int(os.environ.get("FUNCTIONS", "20"))
    bin_dir = os.environ.get("BIN_DIR", "target/release")
    with tempfile.TemporaryDirectory() as work:
        path = pathlib.Path(work, "stack.json")
        path.write_text(json.dumps(template(count), indent=1))
        command = [str(pathlib.Path(bin_dir, "codedeploy-local")), "deploy", "--template", str(path),
                   "--bin-dir", bin_dir, "--log-dir", str(pathlib.Path(work, "logs")),
                   "--json", str(pathlib.Path(work, "out.json"))]
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak, done = [0, 0], threading.Event()

        def sample():
            while not done.wait(0.05):
                kb, count = tree_rss_kb(process.pid)
                peak[0], peak[1] = max(peak[0], kb), max(peak[1], count)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, stderr = process.communicate(timeout=600)
        done.set()
        sampler.join()
        took = time.monotonic() - started
        outcome = json.loads(pathlib.Path(work, "out.json").read_text()) if process.returncode in (0, 1) else {}
    statuses = [d["status"] for d in outcome.get("deployments", [])]
    print("stack of %d gradual functions (x60): %s in %.1f s real; peak memory of the process tree %.1f MB"
          " (at most %d processes)"
          % (count, outcome.get("stack", {}).get("status", "no outcome"), took, peak[0] / 1024, peak[1]))
    print("deployments: %d Succeeded of %d" % (statuses.count("Succeeded"), len(statuses)))
    if process.returncode != 0:
        print(stderr[-3000:], file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
