"""The AWS CLI against `codedeploy-local serve`: Lambda invoke and aliases, and a whole
CodeDeploy deployment created, watched and stopped with `aws deploy`.

Needs the workspace built (`cargo build --workspace --bins`) and `aws` (awscli) on PATH:
    python3 -m unittest discover -s tests/conformance -v
"""

import json
import pathlib
import time
import unittest

from local_serve import Serve

APPSPEC = {
    "version": 0.0,
    "Resources": [
        {
            "HelloFunction": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Name": "HelloFunction", "Alias": "live", "CurrentVersion": "1", "TargetVersion": "2"},
            }
        }
    ],
    "Hooks": [
        {"BeforeAllowTraffic": "CodeDeployHook_local_pre_traffic"},
        {"AfterAllowTraffic": "CodeDeployHook_local_post_traffic"},
    ],
}


class AwsCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.serve = Serve("--time-scale", "600")
        cls.logs = cls.serve.logs

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()

    def aws(self, *args, ok=True):
        result = self.serve.aws(*args)
        if ok:
            self.assertEqual(result.returncode, 0, result.stderr)
            return json.loads(result.stdout) if result.stdout.strip() else None
        self.assertNotEqual(result.returncode, 0, result.stdout)
        return result.stderr

    def test_1_lambda_invoke_and_aliases(self):
        out = pathlib.Path(self.logs.name, "out.json")
        meta = self.aws("lambda", "invoke", "--function-name", "HelloFunction", "--qualifier", "live",
                        "--payload", '{"name": "cli"}', str(out))
        self.assertEqual(meta["ExecutedVersion"], "1")
        self.assertEqual(json.loads(out.read_text()), {"message": "hello cli"})

        alias = self.aws("lambda", "update-alias", "--function-name", "HelloFunction", "--name", "live",
                         "--routing-config", '{"AdditionalVersionWeights": {"2": 0.5}}')
        self.assertEqual(alias["RoutingConfig"]["AdditionalVersionWeights"], {"2": 0.5})
        self.aws("lambda", "update-alias", "--function-name", "HelloFunction", "--name", "live",
                 "--function-version", "1", "--routing-config", '{"AdditionalVersionWeights": {}}')
        versions = self.aws("lambda", "list-versions-by-function", "--function-name", "HelloFunction")
        self.assertEqual([v["Version"] for v in versions["Versions"]], ["$LATEST", "1", "2"])

        missing = self.aws("lambda", "invoke", "--function-name", "nope", str(out), ok=False)
        self.assertIn("ResourceNotFoundException", missing)

    def test_2_a_deployment_with_aws_deploy(self):
        revision = json.dumps({"revisionType": "AppSpecContent", "appSpecContent": {"content": json.dumps(APPSPEC)}})
        created = self.aws("deploy", "create-deployment", "--application-name", "ServerlessDeploymentApplication",
                           "--deployment-group-name", "HelloFunctionDeploymentGroup", "--revision", revision)
        deployment_id = created["deploymentId"]
        # Watch it as a pipeline would: GetDeployment until it ends (x600: seconds).
        deadline = time.monotonic() + 120
        while True:
            info = self.aws("deploy", "get-deployment", "--deployment-id", deployment_id)["deploymentInfo"]
            if info["status"] not in ("Created", "InProgress") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(info["status"], "Succeeded", info)
        self.assertEqual(info["deploymentConfigName"], "CodeDeployDefault.LambdaCanary10Percent5Minutes")
        # As AWS: GetDeployment gives the revision's sha256 only; GetApplicationRevision its content.
        self.assertNotIn("content", info["revision"]["appSpecContent"])
        revision = self.aws("deploy", "get-application-revision", "--application-name", "ServerlessDeploymentApplication",
                            "--revision", json.dumps(info["revision"]))["revision"]
        self.assertEqual(json.loads(revision["appSpecContent"]["content"])["Resources"][0]["HelloFunction"]["Properties"]["TargetVersion"], "2")
        alias = self.aws("lambda", "get-alias", "--function-name", "HelloFunction", "--name", "live")
        self.assertEqual(alias["FunctionVersion"], "2")
        listed = self.aws("deploy", "list-deployments", "--application-name", "ServerlessDeploymentApplication",
                          "--deployment-group-name", "HelloFunctionDeploymentGroup")
        self.assertIn(deployment_id, listed["deployments"])
        stopped = self.aws("deploy", "stop-deployment", "--deployment-id", deployment_id, ok=False)
        self.assertIn("DeploymentAlreadyCompletedException", stopped)

    def test_3_unknown_operations_are_named(self):
        err = self.aws("deploy", "list-applications", ok=False)
        self.assertIn("UnknownOperationException", err)
        self.assertIn("ListApplications", err)


if __name__ == "__main__":
    unittest.main()
