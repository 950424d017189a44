"""codedeploy-local against clients nobody here wrote (boto3 and the AWS CLI), asserting what
the botocore service models and the API reference say AWS does.

Each error a test expects is first checked to be one the operation's service model lists
(`model_error`), so a test cannot assert an error AWS never returns. Where AWS's behaviour
is undocumented, the test says so.

Needs the workspace built (`cargo build --workspace --bins`), boto3 and awscli:
    python3 -m unittest discover -s tests/conformance -v
"""

import base64
import json
import unittest

import botocore.session
from botocore.exceptions import ClientError

from local_serve import Serve

APP, GROUP, FUNCTION = "ServerlessDeploymentApplication", "HelloFunctionDeploymentGroup", "HelloFunction"
PRE, POST = "CodeDeployHook_local_pre_traffic", "CodeDeployHook_local_post_traffic"
MODELS = botocore.session.get_session()


def appspec(target="2", current="1", hooks=((("BeforeAllowTraffic", PRE),), (("AfterAllowTraffic", POST),))):
    return json.dumps({
        "version": 0.0,
        "Resources": [{FUNCTION: {"Type": "AWS::Lambda::Function", "Properties": {
            "Name": FUNCTION, "Alias": "live", "CurrentVersion": current, "TargetVersion": target}}}],
        "Hooks": [dict(h) for h in hooks],
    })


def revision(content):
    return {"revisionType": "AppSpecContent", "appSpecContent": {"content": content}}


def model_error(service, operation, code):
    """`code`, after checking the service model lists it for the operation."""
    errors = [s.name for s in MODELS.get_service_model(service).operation_model(operation).error_shapes]
    assert code in errors, "%s %s: the model lists no %s (only %s)" % (service, operation, code, errors)
    return code


class ConformanceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Fast: deployments end in about a second. Slow: a canary waits five real minutes, so
        # a deployment stays in progress until stopped. Small pages, to see pagination.
        cls.fast = Serve("--time-scale", "600")
        cls.slow = Serve("--time-scale", "1", "--list-page-size", "2")

    @classmethod
    def tearDownClass(cls):
        cls.fast.stop()
        cls.slow.stop()

    def assertError(self, code, call, *args, **kwargs):
        with self.assertRaises(ClientError) as raised:
            call(*args, **kwargs)
        self.assertEqual(raised.exception.response["Error"]["Code"], code, raised.exception.response)
        self.assertTrue(raised.exception.response["ResponseMetadata"].get("RequestId"), "errors carry a request id too")
        return raised.exception.response

    # 1. CreateDeployment refuses what AWS refuses.
    def test_create_deployment_refuses_unknown_application_group_and_config(self):
        cd = self.fast.codedeploy
        good = revision(appspec())
        self.assertError(model_error("codedeploy", "CreateDeployment", "ApplicationDoesNotExistException"),
                         cd.create_deployment, applicationName="nope", deploymentGroupName=GROUP, revision=good)
        self.assertError(model_error("codedeploy", "CreateDeployment", "DeploymentGroupDoesNotExistException"),
                         cd.create_deployment, applicationName=APP, deploymentGroupName="nope", revision=good)
        # Configurations are named in full in the API: a bare SAM-style name is not one.
        for config in ("Canary10Percent5Minutes", "CodeDeployDefault.LambdaCanary25Percent5Minutes"):
            self.assertError(model_error("codedeploy", "CreateDeployment", "DeploymentConfigDoesNotExistException"),
                             cd.create_deployment, applicationName=APP, deploymentGroupName=GROUP, revision=good,
                             deploymentConfigName=config)

    def test_create_deployment_refuses_unpublished_versions_naming_them(self):
        response = self.assertError(
            model_error("codedeploy", "CreateDeployment", "InvalidRevisionException"),
            self.fast.codedeploy.create_deployment, applicationName=APP, deploymentGroupName=GROUP,
            revision=revision(appspec(target="7")))
        self.assertIn("TargetVersion `7`", response["Error"]["Message"])

    def test_a_missing_hook_function_fails_the_deployment_at_once_naming_it(self):
        cd = self.fast.codedeploy
        created = cd.create_deployment(applicationName=APP, deploymentGroupName=GROUP,
                                       revision=revision(appspec(hooks=((("BeforeAllowTraffic", "NoSuchHook"),),))))
        info = self.fast.wait_until_done(created["deploymentId"])
        self.assertEqual(info["status"], "Failed")
        self.assertEqual(info["errorInformation"]["code"], "HOOK_EXECUTION_FAILURE")
        self.assertIn("NoSuchHook", info["errorInformation"]["message"])

    def test_one_active_deployment_per_group(self):
        cd = self.slow.codedeploy
        first = cd.create_deployment(applicationName=APP, deploymentGroupName=GROUP, revision=revision(appspec()))["deploymentId"]
        try:
            response = self.assertError(
                model_error("codedeploy", "CreateDeployment", "DeploymentLimitExceededException"),
                cd.create_deployment, applicationName=APP, deploymentGroupName=GROUP, revision=revision(appspec()))
            self.assertIn(first, response["Error"]["Message"])
        finally:
            cd.stop_deployment(deploymentId=first)
        self.assertEqual(self.slow.wait_until_done(first)["status"], "Stopped")

    def test_an_alarm_override_is_kept_and_an_unknown_alarm_refused(self):
        # overrideAlarmConfiguration (CreateDeployment; AlarmConfiguration in the model). The
        # stand-in evaluates the alarms itself, so it can watch only the group's.
        cd = self.fast.codedeploy
        self.assertError(
            model_error("codedeploy", "CreateDeployment", "InvalidAlarmConfigException"),
            cd.create_deployment, applicationName=APP, deploymentGroupName=GROUP, revision=revision(appspec()),
            overrideAlarmConfiguration={"enabled": True, "alarms": [{"name": "NoSuchAlarm"}]})
        override = {"enabled": False, "ignorePollAlarmFailure": True}
        deployment_id = cd.create_deployment(applicationName=APP, deploymentGroupName=GROUP,
                                             revision=revision(appspec()),
                                             overrideAlarmConfiguration=override)["deploymentId"]
        info = self.fast.wait_until_done(deployment_id)
        self.assertEqual(info["status"], "Succeeded", info)
        kept = info["overrideAlarmConfiguration"]
        self.assertEqual((kept["enabled"], kept["ignorePollAlarmFailure"]), (False, True), kept)

    # 2. GetDeployment never returns the AppSpec content.
    def test_get_deployment_gives_the_sha256_and_get_application_revision_the_content(self):
        cd = self.fast.codedeploy
        content = appspec()
        deployment_id = cd.create_deployment(applicationName=APP, deploymentGroupName=GROUP, revision=revision(content))["deploymentId"]
        info = self.fast.wait_until_done(deployment_id)
        self.assertEqual(info["status"], "Succeeded", info)
        # "The content property of the appSpecContent object in the returned revision is always
        # null" (GetDeployment, codedeploy service model).
        self.assertIn("always null", MODELS.get_service_model("codedeploy").operation_model("GetDeployment").documentation)
        self.assertNotIn("content", info["revision"]["appSpecContent"])
        read = cd.get_application_revision(applicationName=APP, revision=info["revision"])
        self.assertEqual(read["revision"]["appSpecContent"]["content"], content)
        self.assertError(model_error("codedeploy", "GetApplicationRevision", "ApplicationDoesNotExistException"),
                         cd.get_application_revision, applicationName="nope", revision=info["revision"])

    # 3. Ids and validation.
    def test_malformed_deployment_ids_are_invalid(self):
        cd = self.fast.codedeploy
        code = "InvalidDeploymentIdException"
        for operation, call, kwargs in [
            ("GetDeployment", cd.get_deployment, {}),
            ("StopDeployment", cd.stop_deployment, {}),
            ("PutLifecycleEventHookExecutionStatus", cd.put_lifecycle_event_hook_execution_status,
             {"lifecycleEventHookExecutionId": "x", "status": "Succeeded"}),
        ]:
            self.assertError(model_error("codedeploy", operation, code), call, deploymentId="not-an-id", **kwargs)
        # Well formed, but no such deployment: a different error.
        self.assertError(model_error("codedeploy", "GetDeployment", "DeploymentDoesNotExistException"),
                         cd.get_deployment, deploymentId="d-AAAAAAAAA")
        cli = self.fast.aws("deploy", "get-deployment", "--deployment-id", "not-an-id")
        self.assertNotEqual(cli.returncode, 0)
        self.assertIn(code, cli.stderr)

    def test_list_deployments_validates_as_the_model_says(self):
        cd = self.fast.codedeploy
        op = "ListDeployments"
        self.assertError(model_error("codedeploy", op, "DeploymentGroupNameRequiredException"),
                         cd.list_deployments, applicationName=APP)
        self.assertError(model_error("codedeploy", op, "ApplicationNameRequiredException"),
                         cd.list_deployments, deploymentGroupName=GROUP)
        self.assertError(model_error("codedeploy", op, "ApplicationDoesNotExistException"),
                         cd.list_deployments, applicationName="nope", deploymentGroupName=GROUP)
        self.assertError(model_error("codedeploy", op, "DeploymentGroupDoesNotExistException"),
                         cd.list_deployments, applicationName=APP, deploymentGroupName="nope")
        self.assertError(model_error("codedeploy", op, "InvalidDeploymentStatusException"),
                         cd.list_deployments, includeOnlyStatuses=["Sleeping"])
        self.assertError(model_error("codedeploy", op, "InvalidNextTokenException"),
                         cd.list_deployments, nextToken="garbage")

    def test_list_deployments_pages_with_next_token(self):
        cd = self.slow.codedeploy
        created = []
        for _ in range(3):
            deployment_id = cd.create_deployment(applicationName=APP, deploymentGroupName=GROUP,
                                                 revision=revision(appspec()))["deploymentId"]
            cd.stop_deployment(deploymentId=deployment_id)
            self.assertEqual(self.slow.wait_until_done(deployment_id)["status"], "Stopped")
            created.append(deployment_id)
        first = cd.list_deployments(applicationName=APP, deploymentGroupName=GROUP)
        self.assertEqual(len(first["deployments"]), 2, "pages of --list-page-size 2")
        self.assertIn("nextToken", first)
        pages = cd.get_paginator("list_deployments").paginate(applicationName=APP, deploymentGroupName=GROUP)
        listed = [d for page in pages for d in page["deployments"]]
        self.assertEqual(len(listed), len(set(listed)), "no id twice")
        self.assertTrue(set(created) <= set(listed))
        cli = self.slow.aws("deploy", "list-deployments", "--application-name", APP, "--deployment-group-name", GROUP)
        self.assertEqual(cli.returncode, 0, cli.stderr)
        self.assertTrue(set(created) <= set(json.loads(cli.stdout)["deployments"]), "the CLI follows nextToken")

    def test_list_versions_pages_with_marker_and_gives_the_configuration(self):
        lam = self.fast.lambda_
        first = lam.list_versions_by_function(FunctionName=FUNCTION, MaxItems=1)
        self.assertEqual([v["Version"] for v in first["Versions"]], ["$LATEST"])
        pages = lam.get_paginator("list_versions_by_function").paginate(FunctionName=FUNCTION, PaginationConfig={"PageSize": 1})
        versions = [v for page in pages for v in page["Versions"]]
        self.assertEqual([v["Version"] for v in versions], ["$LATEST", "1", "2"])
        for field in ("Role", "CodeSha256", "CodeSize", "LastModified", "RevisionId", "Architectures", "Runtime",
                      "Handler", "Timeout", "MemorySize", "FunctionArn", "State", "PackageType"):
            self.assertIn(field, versions[1], field)
        self.assertGreater(versions[1]["CodeSize"], 0)
        self.assertEqual(len(base64.b64decode(versions[1]["CodeSha256"])), 32)
        self.assertRegex(versions[1]["LastModified"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        self.assertTrue(versions[2]["FunctionArn"].endswith(":%s:2" % FUNCTION))
        # $LATEST's ARN is qualified too, as in the ListVersionsByFunction reference's example.
        self.assertTrue(versions[0]["FunctionArn"].endswith(":function:%s:$LATEST" % FUNCTION), versions[0]["FunctionArn"])
        # The template's Globals say arm64: reported as configured, not as this machine runs it.
        self.assertEqual({tuple(v["Architectures"]) for v in versions}, {("arm64",)})

    # 4. Every response carries x-amzn-RequestId; a synchronous Invoke's is the invocation's.
    def test_every_answer_has_a_request_id_and_invoke_shares_it_with_its_log(self):
        for response in (self.fast.codedeploy.list_deployments(),
                         self.fast.lambda_.get_alias(FunctionName=FUNCTION, Name="live")):
            self.assertTrue(response["ResponseMetadata"]["RequestId"])
        out = self.fast.lambda_.invoke(FunctionName=FUNCTION, Qualifier="1", Payload=b"{}", LogType="Tail")
        request_id = out["ResponseMetadata"]["RequestId"]
        log = base64.b64decode(out["LogResult"]).decode()
        self.assertIn("START RequestId: %s Version: 1" % request_id, log)
        report = [line for line in log.splitlines() if line.startswith("REPORT")][-1]
        self.assertIn("RequestId: %s\tDuration: " % request_id, report)
        for field in ("Billed Duration: ", "Memory Size: ", "Max Memory Used: "):
            self.assertIn(field, report)

    # 5. Payload limits as Lambda's.
    def test_payload_limits_are_lambdas(self):
        lam = self.fast.lambda_
        big = json.dumps({"name": "big", "pad": "x" * (5 * 1024 * 1024)}).encode()
        self.assertEqual(lam.invoke(FunctionName=FUNCTION, Qualifier="1", Payload=big)["StatusCode"], 200)
        too_big = json.dumps({"pad": "x" * (6 * 1024 * 1024)}).encode()
        code = model_error("lambda", "Invoke", "RequestTooLargeException")
        response = self.assertError(code, lam.invoke, FunctionName=FUNCTION, Qualifier="1", Payload=too_big)
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 413)
        # "For asynchronous invocations, the maximum payload size is 1 MB" (Invoke).
        self.assertIn("asynchronous invocations, the maximum payload size is 1 MB",
                      MODELS.get_service_model("lambda").operation_model("Invoke").documentation)
        over_async = json.dumps({"pad": "x" * (1024 * 1024)}).encode()
        self.assertError(code, lam.invoke, FunctionName=FUNCTION, Qualifier="1", Payload=over_async, InvocationType="Event")
        self.assertEqual(lam.invoke(FunctionName=FUNCTION, Qualifier="1", Payload=b"{}", InvocationType="Event")["StatusCode"], 202)

    # 6. $LATEST is not "the newest version".
    def test_latest_is_its_own_version(self):
        lam = self.slow.lambda_
        self.assertEqual(lam.invoke(FunctionName=FUNCTION, Payload=b"{}")["ExecutedVersion"], "$LATEST")
        self.assertEqual(lam.invoke(FunctionName=FUNCTION, Qualifier="$LATEST", Payload=b"{}")["ExecutedVersion"], "$LATEST")
        invalid = model_error("lambda", "UpdateAlias", "InvalidParameterValueException")
        self.assertError(invalid, lam.update_alias, FunctionName=FUNCTION, Name="live", FunctionVersion="$LATEST",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        self.assertError(model_error("lambda", "Invoke", "InvalidParameterValueException"),
                         lam.invoke, FunctionName=FUNCTION + ":1", Qualifier="2", Payload=b"{}")
        # Undocumented: what Lambda answers for an ARN of another account or region. The
        # stand-in is one account in one region, and says so with ResourceNotFoundException.
        for arn in ("arn:aws:lambda:eu-west-1:000000000000:function:" + FUNCTION,
                    "arn:aws:lambda:us-east-1:123456789012:function:" + FUNCTION):
            self.assertError(model_error("lambda", "Invoke", "ResourceNotFoundException"),
                             lam.invoke, FunctionName=arn, Qualifier="1", Payload=b"{}")
        # An alias may point at $LATEST, without weights.
        lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {}})
        try:
            self.assertEqual(lam.invoke(FunctionName=FUNCTION, Qualifier="live", Payload=b"{}")["ExecutedVersion"], "$LATEST")
        finally:
            lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")

    # 8. What the shift's watch relies on.
    def test_update_alias_with_a_revision_id_is_compare_and_swap(self):
        # The model's UpdateAlias RevisionId: "Only update the alias if the revision ID
        # matches the ID that's specified"; Description is at most 256 characters.
        lam = self.fast.lambda_
        lease = lam.get_alias(FunctionName=PRE, Name="watch-lease")
        first = lam.update_alias(FunctionName=PRE, Name="watch-lease", Description="mine",
                                 RevisionId=lease["RevisionId"])
        self.assertEqual(first["Description"], "mine")
        self.assertEqual(first["FunctionVersion"], "$LATEST", "only the description changed")
        self.assertError(model_error("lambda", "UpdateAlias", "PreconditionFailedException"),
                         lam.update_alias, FunctionName=PRE, Name="watch-lease", Description="theirs",
                         RevisionId=lease["RevisionId"])
        self.assertEqual(lam.get_alias(FunctionName=PRE, Name="watch-lease")["Description"], "mine")
        with self.assertRaises(Exception):  # botocore's own length check, or the service's
            lam.update_alias(FunctionName=PRE, Name="watch-lease", Description="x" * 257)

    def test_stop_deployment_rolls_back_only_with_auto_rollback_enabled(self):
        # The model's StopDeployment autoRollbackEnabled: "whether instances that have been
        # updated should be rolled back". What a Lambda alias does on a stop without it is
        # undocumented; the stand-in leaves it where it was.
        cd, lam = self.slow.codedeploy, self.slow.lambda_
        for rollback in (True, False):
            deployment_id = cd.create_deployment(applicationName=APP, deploymentGroupName=GROUP,
                                                 revision=revision(appspec(hooks=())))["deploymentId"]
            self.slow.wait_until_split(FUNCTION, "live")  # the canary's first step
            answer = cd.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=rollback)
            self.assertEqual(answer["status"], "Pending")
            self.assertEqual(self.slow.wait_until_done(deployment_id)["status"], "Stopped")
            weights = lam.get_alias(FunctionName=FUNCTION, Name="live").get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
            self.assertEqual(bool(weights), not rollback, weights)
            lam.update_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {}})

    # 7. The AWS CLI reads the same answers.
    def test_the_aws_cli_gets_typed_errors_and_pages(self):
        out = self.fast.aws("lambda", "list-versions-by-function", "--function-name", FUNCTION, "--max-items", "5")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([v["Version"] for v in json.loads(out.stdout)["Versions"]], ["$LATEST", "1", "2"])
        missing = self.fast.aws("deploy", "list-deployments", "--application-name", "nope", "--deployment-group-name", GROUP)
        self.assertIn("ApplicationDoesNotExistException", missing.stderr)


if __name__ == "__main__":
    unittest.main()
