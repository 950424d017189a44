"""`codedeploy-local serve` for the Python suites: started on a free port with the template's
functions, with boto3 clients and the AWS CLI pointed at it."""

import os
import pathlib
import subprocess
import tempfile
import time

import boto3
import botocore.config

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = ROOT / "target" / "debug"
DEADLINE = 60  # seconds any wait for a deployment may take, at most


class Serve:
    """`codedeploy-local serve` with the template's functions, on a free port."""

    def __init__(self, *extra):
        self.logs = tempfile.TemporaryDirectory()
        self.process = subprocess.Popen(
            [str(BIN_DIR / "codedeploy-local"), "serve", "--port", "0", "--template", str(ROOT / "template.yaml"),
             "--bin-dir", str(BIN_DIR), "--log-dir", self.logs.name, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline().strip()
        if not first.startswith("AWS_ENDPOINT_URL="):
            self.process.kill()
            raise RuntimeError("serve did not start: %r %s" % (first, self.process.stderr.read()))
        self.endpoint = first.split("=", 1)[1]
        self.env = {"PATH": os.environ["PATH"], "HOME": self.logs.name, "AWS_ACCESS_KEY_ID": "local",
                    "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
        config = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=60)
        session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
        self.codedeploy = session.client("codedeploy", endpoint_url=self.endpoint, config=config)
        self.lambda_ = session.client("lambda", endpoint_url=self.endpoint, config=config)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process.stdout.close()
        self.process.stderr.close()
        self.logs.cleanup()

    def aws(self, *args):
        """The AWS CLI against the stand-in; its completed process."""
        return subprocess.run(["aws", "--endpoint-url", self.endpoint, "--output", "json", *args],
                              env=self.env, capture_output=True, text=True, timeout=60)

    def wait_until_split(self, function, alias):
        """Until the alias sends an additional version traffic (a canary's first step)."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            found = self.lambda_.get_alias(FunctionName=function, Name=alias)
            if found.get("RoutingConfig", {}).get("AdditionalVersionWeights"):
                return found
            time.sleep(0.05)  # polling, as a pipeline would; bounded by DEADLINE
        raise AssertionError("%s:%s never split within %ss" % (function, alias, DEADLINE))

    def wait_until_done(self, deployment_id):
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            info = self.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            if info["status"] not in ("Created", "InProgress"):
                return info
            time.sleep(0.05)  # polling a status, as a pipeline does; bounded by DEADLINE
        raise AssertionError("deployment %s still running after %ss" % (deployment_id, DEADLINE))
