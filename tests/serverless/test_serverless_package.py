"""hooks-examples/serverless: what `serverless package` generated must wire the deployment.

Run after `npx serverless package` in hooks-examples/serverless (see .ci/run):
    python3 -m unittest discover -s tests/serverless -v
"""

import hashlib
import json
import os
import pathlib
import unittest
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "hooks-examples" / "serverless" / os.environ.get("SLS_PACKAGE_DIR", ".serverless")
GENERATED = PACKAGED / "cloudformation-template-update-stack.json"
STATE = PACKAGED / "serverless-state.json"
# Function (in serverless.yml) -> its CloudFormation resource and the binary it must ship.
FUNCTIONS = {
    "hello": ("HelloLambdaFunction", "hello"),
    "preTrafficHook": ("PreTrafficHookLambdaFunction", "pre-traffic"),
    "postTrafficHook": ("PostTrafficHookLambdaFunction", "post-traffic"),
}
# Where the binaries the zips were made of are (CI zips the function builds, [profile.function]).
BINARIES = ROOT / "target" / os.environ.get("BINARY_PROFILE", "function")
HOOKS = {"BeforeAllowTrafficHook": "PreTrafficHookLambdaFunction", "AfterAllowTrafficHook": "PostTrafficHookLambdaFunction"}
ALARMS = ["HelloAliasErrorsAlarm", "HelloAliasLatencyAlarm"]


def of_type(resources, kind):
    return {k: r for k, r in resources.items() if r["Type"] == kind}


class ServerlessPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not GENERATED.is_file():
            raise unittest.SkipTest("run `npx serverless package` in hooks-examples/serverless first")
        cls.resources = json.loads(GENERATED.read_text())["Resources"]
        cls.functions = json.loads(STATE.read_text())["service"]["functions"]

    def test_every_function_ships_its_own_binary_under_its_own_key(self):
        keys = {}
        for function, (resource, binary) in FUNCTIONS.items():
            key = self.resources[resource]["Properties"]["Code"]["S3Key"]
            keys[resource] = key
            artifact = (PACKAGED.parent / self.functions[function]["package"]["artifact"]).resolve()
            with zipfile.ZipFile(artifact) as zipped:
                shipped = hashlib.sha256(zipped.read("bootstrap")).hexdigest()
            built = hashlib.sha256((BINARIES / binary).read_bytes()).hexdigest()
            self.assertEqual(shipped, built, "%s's zip %s does not hold the %s binary" % (function, artifact, binary))
        self.assertEqual(len(set(keys.values())), len(keys), "S3 keys are shared: %s" % keys)

    def test_one_deployment_group_with_the_canary_config_and_both_alarms(self):
        groups = of_type(self.resources, "AWS::CodeDeploy::DeploymentGroup")
        self.assertEqual(list(groups), ["HelloLambdaFunctionDeploymentGroup"])
        props = groups["HelloLambdaFunctionDeploymentGroup"]["Properties"]
        template, values = props["DeploymentConfigName"]["Fn::Sub"]
        self.assertEqual(template.replace("${ConfigName}", values["ConfigName"]), "CodeDeployDefault.LambdaCanary10Percent5Minutes")
        self.assertTrue(props["AlarmConfiguration"]["Enabled"])
        self.assertEqual([a["Name"]["Ref"] for a in props["AlarmConfiguration"]["Alarms"]], ALARMS)
        self.assertEqual(len(of_type(self.resources, "AWS::CodeDeploy::Application")), 1)

    def test_the_alarms_watch_the_live_alias(self):
        for name in ALARMS:
            props = self.resources[name]["Properties"]
            self.assertEqual(props["Namespace"], "AWS/Lambda")
            dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
            self.assertEqual(dims["Resource"], "hello-dev-hello:live")
            self.assertEqual(dims["FunctionName"], {"Ref": "HelloLambdaFunction"})
        self.assertEqual(self.resources["HelloAliasLatencyAlarm"]["Properties"]["ExtendedStatistic"], "p99")

    def test_the_alias_update_policy_names_both_hooks(self):
        alias = self.resources["HelloLambdaFunctionAliaslive"]
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        for key, hook in HOOKS.items():
            self.assertEqual(update[key], {"Ref": hook})

    def test_hooks_are_named_for_codedeploy_and_leave_the_reporting_reserve(self):
        for hook in HOOKS.values():
            props = self.resources[hook]["Properties"]
            self.assertTrue(props["FunctionName"].startswith("CodeDeployHook_"), props["FunctionName"])
            self.assertGreaterEqual(props["Timeout"], 13)
            self.assertEqual(props["Runtime"], "provided.al2023")

    def test_the_http_route_goes_through_the_alias(self):
        integration = self.resources["HttpApiIntegrationHello"]["Properties"]
        parts = integration["IntegrationUri"]["Fn::Join"][1]
        self.assertIn({"Ref": "HelloLambdaFunctionAliaslive"}, parts)

    def test_the_role_grants_the_hooks_only_what_they_need(self):
        role = self.resources["IamRoleLambdaExecution"]["Properties"]
        granted = {}
        for statement in role["Policies"][0]["PolicyDocument"]["Statement"]:
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in statement["Action"]:
                for resource in resources:
                    text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
                    # GetMetricData takes no resource (the Service Authorization Reference).
                    if action != "cloudwatch:GetMetricData":
                        self.assertNotEqual(text, "*", "%s on *" % action)
                    granted.setdefault(action, set()).add(text)
        group = "deploymentgroup:${HellodevDeploymentApplication}/hello-dev-HelloLambdaFunctionDeploymentGroup"
        for action in ("codedeploy:PutLifecycleEventHookExecutionStatus", "codedeploy:GetDeployment"):
            (resource,) = granted[action]
            self.assertTrue(resource.endswith(":" + group), "%s on %s" % (action, resource))
        (stop,) = granted["codedeploy:StopDeployment"]
        self.assertTrue(stop.endswith(":" + group), stop)
        pre_traffic = ":function:CodeDeployHook_hello-dev-pre-traffic"
        invoke = sorted(granted["lambda:InvokeFunction"])
        self.assertEqual(len(invoke), 2, invoke)
        self.assertTrue(invoke[0].endswith(pre_traffic), invoke)
        self.assertTrue(invoke[1].endswith(":function:hello-dev-hello:*"), invoke)
        self.assertEqual(granted["cloudwatch:GetMetricData"], {"*"})
        (lease,) = granted["lambda:UpdateAlias"]
        self.assertTrue(lease.endswith(pre_traffic + ":watch-lease"), lease)

    def test_the_watch_has_its_lease_and_the_post_traffic_hook_checks_it(self):
        lease = self.resources["PreTrafficWatchLease"]["Properties"]
        self.assertEqual(lease["FunctionName"], {"Ref": "PreTrafficHookLambdaFunction"})
        self.assertEqual((lease["Name"], lease["FunctionVersion"]), ("watch-lease", "$LATEST"))
        post = self.resources["PostTrafficHookLambdaFunction"]["Properties"]
        self.assertEqual(post["Environment"]["Variables"]["CODEDEPLOY_HOOKS_WATCHED_BY"], "CodeDeployHook_hello-dev-pre-traffic")
        self.assertGreaterEqual(self.resources["PreTrafficHookLambdaFunction"]["Properties"]["Timeout"], 2 * 30 + 3 + 60)


    def test_notifications_reach_the_alerts_topic(self):
        topic = {"Ref": "AwsAlertsAlarm"}
        self.assertEqual(self.resources["AwsAlertsAlarm"]["Type"], "AWS::SNS::Topic")
        for name in ALARMS:
            self.assertIn(topic, self.resources[name]["Properties"]["AlarmActions"], name)
        group = self.resources["HelloLambdaFunctionDeploymentGroup"]["Properties"]
        (trigger,) = group["TriggerConfigurations"]
        self.assertEqual(trigger["TriggerTargetArn"], topic)
        self.assertEqual(set(trigger["TriggerEvents"]), {"DeploymentFailure", "DeploymentStop", "DeploymentRollback"})

    def test_the_alerts_topic_has_an_email_subscription_only_when_asked(self):
        # EXPECT_NOTIFICATION_EMAIL: the address given with --param="notificationEmail=...".
        email = os.environ.get("EXPECT_NOTIFICATION_EMAIL")
        expected = [{"Protocol": "email", "Endpoint": email}] if email else []
        self.assertEqual(self.resources["AwsAlertsAlarm"]["Properties"]["Subscription"], expected)

    def test_codedeploy_gets_a_least_privilege_role_of_our_own(self):
        group = self.resources["HelloLambdaFunctionDeploymentGroup"]["Properties"]
        self.assertEqual(group["ServiceRoleArn"], {"Fn::GetAtt": ["HelloCodeDeployRole", "Arn"]})
        self.assertNotIn("CodeDeployServiceRole", self.resources, "the plugin's broad role is not created")
        role = self.resources["HelloCodeDeployRole"]["Properties"]
        (managed,) = role["ManagedPolicyArns"]
        self.assertTrue(managed["Fn::Sub"].endswith(":iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"), managed)
        (policy,) = role["Policies"]
        (statement,) = policy["PolicyDocument"]["Statement"]
        self.assertEqual((statement["Action"], statement["Resource"]), ("sns:Publish", {"Ref": "AwsAlertsAlarm"}))

    def test_a_dashboard_is_made(self):
        dashboards = of_type(self.resources, "AWS::CloudWatch::Dashboard")
        self.assertEqual(len(dashboards), 1, list(dashboards))


if __name__ == "__main__":
    unittest.main()
