"""`serve`'s memory over many deployments (issue 21: RSS flat over 1,000 deployments in one
serve). Creates DEPLOYMENTS deployments of HelloFunction one after the other through boto3,
each with the template's PreTraffic and PostTraffic hooks run for real, a canary on a clock 1,000 times real, and
prints serve's RSS after the first 100 and at the end. The stand-in
keeps 100 finished deployments by default (KEEP, `--keep-deployments`), so a run past that
also shows the oldest being forgotten.

    BIN_DIR=target/release DEPLOYMENTS=1000 python3 tests/bench-hooks/deployments_rss.py
"""

import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "conformance"))
import local_serve  # noqa: E402

APP, GROUP = "ServerlessDeploymentApplication", "HelloFunctionDeploymentGroup"
PRE, POST = "CodeDeployHook_local_pre_traffic", "CodeDeployHook_local_post_traffic"


def rss_mb(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def revision(current, target):
    content = json.dumps({
        "version": 0.0,
        "Resources": [{"HelloFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Name": "HelloFunction", "Alias": "live", "CurrentVersion": current, "TargetVersion": target}}}],
        "Hooks": [{"BeforeAllowTraffic": PRE}, {"AfterAllowTraffic": POST}],
    })
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}


def main():
    if "BIN_DIR" in os.environ:
        local_serve.BIN_DIR = pathlib.Path(os.environ["BIN_DIR"]).resolve()
    total = int(os.environ.get("DEPLOYMENTS", "1000"))
    # Canary on a clock 1,000 times real: the shift lasts 0.3 s, long enough for the
    # PreTraffic hook's watch to claim it, as the PostTraffic hook checks.
    keep = os.environ.get("KEEP", "100")
    serve = local_serve.Serve("--time-scale", "1000", "--keep-deployments", keep)
    try:
        first, failed = None, 0
        for n in range(total):
            current, target = "1", "2"  # the hooks are built to test version 2
            created = serve.codedeploy.create_deployment(
                applicationName=APP, deploymentGroupName=GROUP, revision=revision(current, target),
                deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes")
            info = serve.wait_until_done(created["deploymentId"])
            if info["status"] != "Succeeded":
                # On a busy machine the canary analysis may fail a good release on latency:
                # the deployment still counts (it rolled back), and is reported.
                failed += 1
                print(f"deployment {n} ended {info['status']}: {info.get('errorInformation')}")
            if n == 99:
                first = rss_mb(serve.process.pid)
        last = rss_mb(serve.process.pid)
        print(f"serve RSS over {total} deployments ({failed} failed), {keep} kept: "
              f"{first:.1f} MB after 100, {last:.1f} MB after {total}")
    finally:
        serve.stop()


if __name__ == "__main__":
    main()
