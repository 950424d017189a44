"""template.yaml, expanded by the real SAM translator, must wire the deployment as promised.

Each rule is a function of the translated CloudFormation that returns what is wrong. The
template must break none; and each rule is shown to catch the mistake it is for, by
breaking a copy of the template (the mutation tests at the end).

Run: python3 -m unittest discover -s tests/template -v
"""

import copy
import json
import logging
import os
import pathlib
import re
import unittest

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The translator logs metric bookkeeping at warning level; only errors matter here.
logging.getLogger("samtranslator").setLevel(logging.ERROR)
logging.getLogger().setLevel(logging.ERROR)

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

PREDEFINED_TYPES = [
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
    "AllAtOnce",
]
ALARMS = ["AliasErrorsAlarm", "NewVersionErrorsAlarm", "AliasLatencyAlarm"]
HOOKS = {"BeforeAllowTrafficHook": "PreTrafficHook", "AfterAllowTrafficHook": "PostTrafficHook"}
STACK_NAME = "hello-stack"


class NoManagedPolicies:
    """The translator asks IAM for managed policy names only when a template uses them."""

    def load(self):
        return {}


def load_template():
    return yaml_parse(TEMPLATE.read_text())


def translate(template, deployment_type="Canary10Percent5Minutes"):
    """CloudFormation as SAM would deploy it (code already packaged to S3, as `sam package` does)."""
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key"
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    return transform(template, {"DeploymentType": deployment_type}, NoManagedPolicies())


def sub(value, names):
    """Evaluate `Fn::Sub` (both forms) and `Ref` of known names, enough for these checks."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return names.get(value["Ref"], "${%s}" % value["Ref"])
    if isinstance(value, dict) and "Fn::Sub" in value:
        body = value["Fn::Sub"]
        local = dict(names)
        if isinstance(body, list):
            body, extra = body
            local.update({k: sub(v, names) for k, v in extra.items()})
        return re.sub(r"\$\{([^}]+)\}", lambda m: local.get(m.group(1), m.group(0)), body)
    return repr(value)


def is_ref(value, logical_id):
    return value == {"Ref": logical_id}


def hook_functions(resources):
    """The hook functions named in the alias update policy, by logical id."""
    alias = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias" and "UpdatePolicy" in r)
    update = alias.get("UpdatePolicy", {}).get("CodeDeployLambdaAliasUpdate", {})
    return {key: update.get(key, {}).get("Ref") for key in HOOKS}


# --- the rules ---------------------------------------------------------------------------


def deployment_group_problems(resources, deployment_type):
    problems = []
    groups = [r for r in resources.values() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"]
    if len(groups) != 1:
        return ["expected one CodeDeploy deployment group, found %d" % len(groups)]
    props = groups[0]["Properties"]
    config = sub(props.get("DeploymentConfigName"), {"DeploymentType": deployment_type})
    if config != "CodeDeployDefault.Lambda" + deployment_type:
        problems.append("deployment config is %s, not CodeDeployDefault.Lambda%s" % (config, deployment_type))
    alarm_config = props.get("AlarmConfiguration", {})
    if not alarm_config.get("Enabled"):
        problems.append("the deployment group's alarms are not enabled")
    watched = [a.get("Name", {}).get("Ref") for a in alarm_config.get("Alarms", [])]
    for alarm in ALARMS:
        if alarm not in watched:
            problems.append("the deployment group does not watch %s" % alarm)
    return problems


def alarm_problems(resources):
    problems = []
    for name in ALARMS:
        alarm = resources.get(name)
        if not alarm or alarm["Type"] != "AWS::CloudWatch::Alarm":
            problems.append("%s is not an AWS::CloudWatch::Alarm" % name)
            continue
        props = alarm["Properties"]
        if props.get("Namespace") != "AWS/Lambda":
            problems.append("%s does not watch AWS/Lambda metrics" % name)
        dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
        if not is_ref(dims.get("FunctionName"), "HelloFunction"):
            problems.append("%s is not on HelloFunction" % name)
        if sub(dims.get("Resource"), {"HelloFunction": "hello"}) != "hello:live":
            problems.append("%s is not on the live alias" % name)
    new_version = resources.get("NewVersionErrorsAlarm", {}).get("Properties", {})
    dims = {d["Name"]: d["Value"] for d in new_version.get("Dimensions", [])}
    executed = dims.get("ExecutedVersion", {})
    if not (isinstance(executed, dict) and "Fn::GetAtt" in executed and executed["Fn::GetAtt"][1] == "Version"):
        problems.append("NewVersionErrorsAlarm is not on the new version (ExecutedVersion)")
    latency = resources.get("AliasLatencyAlarm", {}).get("Properties", {})
    if latency.get("MetricName") != "Duration" or latency.get("ExtendedStatistic") != "p99":
        problems.append("AliasLatencyAlarm does not watch p99 Duration")
    return problems


def hook_problems(resources):
    problems = []
    hooks = hook_functions(resources)
    for key, expected in HOOKS.items():
        if hooks.get(key) != expected:
            problems.append("the alias update policy's %s is %s, not %s" % (key, hooks.get(key), expected))
    for logical_id in HOOKS.values():
        function = resources.get(logical_id)
        if not function:
            problems.append("%s is missing" % logical_id)
            continue
        name = sub(function["Properties"].get("FunctionName"), {"AWS::StackName": STACK_NAME})
        if not name.startswith("CodeDeployHook_"):
            problems.append(
                "%s is named %s: CodeDeploy's role may only invoke functions named CodeDeployHook_*" % (logical_id, name)
            )
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        target = variables.get("CODEDEPLOY_HOOKS_TARGET", {})
        version_ids = [k for k, r in resources.items() if r["Type"] == "AWS::Lambda::Version"]
        if not (isinstance(target, dict) and target.get("Ref") in version_ids):
            problems.append("%s is not given the version under test in CODEDEPLOY_HOOKS_TARGET" % logical_id)
    post_vars = resources.get("PostTrafficHook", {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
    if "HELLO_API_URL" not in post_vars:
        problems.append("PostTrafficHook is not given the public URL in HELLO_API_URL")
    return problems


def statements(resources, logical_id):
    role = resources.get(logical_id + "Role", {})
    for policy in role.get("Properties", {}).get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            yield statement


def as_list(value):
    return value if isinstance(value, list) else [value]


VERSION_UNDER_TEST = "arn:aws:lambda:eu-west-1:123456789012:function:hello:<version under test>"
LIVE_ALIAS = "arn:aws:lambda:eu-west-1:123456789012:function:hello:live"
PRE_TRAFFIC = "arn:aws:lambda:eu-west-1:123456789012:function:CodeDeployHook_%s_pre_traffic" % STACK_NAME
WATCH_LEASE = PRE_TRAFFIC + ":watch-lease"
GROUP_ARN = "arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:APP/GROUP"
APP_ARN = "arn:aws:codedeploy:eu-west-1:123456789012:application:APP"

# Least privilege, per hook: every action it is granted, and on exactly which resources.
# The PreTraffic hook runs the shift's watch too: it stops the deployment, calls the alias,
# invokes itself and holds the lease; the PostTraffic hook reads the lease.
# Actions that take no resource: the Service Authorization Reference ("Actions defined by
# Amazon CloudWatch") lists no resource type for GetMetricData, so a policy can only grant
# it on "*". These, and only these, may have Resource "*".
RESOURCELESS = {"cloudwatch:GetMetricData"}

ALLOWED = {
    "PreTrafficHook": {
        "cloudwatch:GetMetricData": {"*"},
        "codedeploy:PutLifecycleEventHookExecutionStatus": {GROUP_ARN},
        "codedeploy:GetDeployment": {GROUP_ARN},
        "codedeploy:StopDeployment": {GROUP_ARN},
        "codedeploy:GetApplicationRevision": {APP_ARN},
        "lambda:InvokeFunction": {VERSION_UNDER_TEST, LIVE_ALIAS, PRE_TRAFFIC},
        "lambda:GetAlias": {LIVE_ALIAS, WATCH_LEASE},
        "lambda:UpdateAlias": {WATCH_LEASE},
    },
    "PostTrafficHook": {
        "cloudwatch:GetMetricData": {"*"},
        "codedeploy:PutLifecycleEventHookExecutionStatus": {GROUP_ARN},
        "codedeploy:GetDeployment": {GROUP_ARN},
        "codedeploy:GetApplicationRevision": {APP_ARN},
        "lambda:InvokeFunction": {VERSION_UNDER_TEST},
        "lambda:GetAlias": {LIVE_ALIAS, WATCH_LEASE},
    },
}


def iam_problems(resources):
    problems = []
    # `!Ref HelloFunction.Version` becomes a Ref to the AWS::Lambda::Version SAM generates:
    # its ARN, the version under test (CloudFormation's Ref of AWS::Lambda::Version).
    versions = {k: VERSION_UNDER_TEST for k, r in resources.items() if r["Type"] == "AWS::Lambda::Version"}
    names = {
        **versions,
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
        "AWS::StackName": STACK_NAME,
        "ServerlessDeploymentApplication": "APP",
        "HelloFunctionDeploymentGroup": "GROUP",
        "HelloFunction.Arn": "arn:aws:lambda:eu-west-1:123456789012:function:hello",
        "PreTrafficHook.Arn": PRE_TRAFFIC,
    }
    for logical_id, allowed in ALLOWED.items():
        granted = {}
        for statement in statements(resources, logical_id):
            if statement.get("Effect") != "Allow":
                continue
            resources_of = {sub(r, names) for r in as_list(statement.get("Resource", []))}
            for action in as_list(statement.get("Action", [])):
                if "*" in resources_of and action not in RESOURCELESS:
                    problems.append("%s grants %s on Resource \"*\"" % (logical_id, action))
                if action in ("*", "codedeploy:*", "lambda:*", "cloudwatch:*"):
                    problems.append("%s grants the wildcard action %s" % (logical_id, action))
                granted.setdefault(action, set()).update(resources_of)
        for action in sorted(set(granted) - set(allowed)):
            problems.append("%s may %s, which it does not need" % (logical_id, action))
        for action, expected in allowed.items():
            if not granted.get(action):
                problems.append("%s may not %s" % (logical_id, action))
            elif granted[action] != expected:
                problems.append(
                    "%s may %s on %s; least privilege is %s" % (logical_id, action, sorted(granted[action]), sorted(expected))
                )
    return problems


def watch_problems(resources):
    """The shift's watch runs in the PreTraffic hook: its lease alias exists, its timeout
    leaves room for rounds, and the PostTraffic hook checks that it watched."""
    problems = []
    leases = [
        r["Properties"] for r in resources.values()
        if r["Type"] == "AWS::Lambda::Alias" and r["Properties"].get("Name") == "watch-lease"
    ]
    if not any(is_ref(p.get("FunctionName"), "PreTrafficHook") and p.get("FunctionVersion") == "$LATEST" for p in leases):
        problems.append("PreTrafficHook has no alias watch-lease on $LATEST: the watch has nowhere to keep its lease")
    timeout = resources.get("PreTrafficHook", {}).get("Properties", {}).get("Timeout", 3)
    if timeout < 2 * 30 + 3 + 60:
        problems.append("PreTrafficHook's timeout of %s s leaves the watch too little time per invocation" % timeout)
    post_vars = resources.get("PostTrafficHook", {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
    if not is_ref(post_vars.get("CODEDEPLOY_HOOKS_WATCHED_BY"), "PreTrafficHook"):
        problems.append("PostTrafficHook does not check the watch (CODEDEPLOY_HOOKS_WATCHED_BY: !Ref PreTrafficHook)")
    return problems


TOPIC = "DeploymentNotificationsTopic"
TRIGGER_EVENTS = {"DeploymentFailure", "DeploymentStop", "DeploymentRollback"}


def notification_problems(resources, conditions):
    problems = []
    if resources.get(TOPIC, {}).get("Type") != "AWS::SNS::Topic":
        return ["%s is not an AWS::SNS::Topic" % TOPIC]
    to_topic = {"Ref": TOPIC}
    subscriptions = [r for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    if len(subscriptions) != 1:
        problems.append("expected one email subscription, found %d" % len(subscriptions))
    for sub_ in subscriptions:
        props = sub_["Properties"]
        if props.get("TopicArn") != to_topic or props.get("Protocol") != "email":
            problems.append("the subscription is not an email subscription of %s" % TOPIC)
        if props.get("Endpoint") != {"Ref": "NotificationEmail"}:
            problems.append("the subscription does not send to the NotificationEmail parameter")
        condition = conditions.get(sub_.get("Condition"))
        if condition != {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]}:
            problems.append("the subscription is created even when NotificationEmail is empty")
    for name in ALARMS:
        props = resources.get(name, {}).get("Properties", {})
        for actions in ("AlarmActions", "OKActions"):
            if to_topic not in props.get(actions, []):
                problems.append("%s does not send its %s to %s" % (name, actions, TOPIC))
    (group,) = [r for r in resources.values() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"]
    triggers = group["Properties"].get("TriggerConfigurations", [])
    events = {e for t in triggers if t.get("TriggerTargetArn") == to_topic for e in t.get("TriggerEvents", [])}
    for missing in sorted(TRIGGER_EVENTS - events):
        problems.append("the deployment group does not notify %s of %s" % (TOPIC, missing))
    problems += deployment_role_problems(resources, group)
    policy = next((r for r in resources.values() if r["Type"] == "AWS::SNS::TopicPolicy"), None)
    if policy:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement.get("Principal") != {"Service": "cloudwatch.amazonaws.com"}:
                problems.append("the topic policy lets %s publish" % statement.get("Principal"))
            arns = statement.get("Condition", {}).get("ArnEquals", {}).get("aws:SourceArn", [])
            if sorted(a.get("Fn::GetAtt", [None])[0] for a in arns) != sorted(ALARMS):
                problems.append("the topic policy does not limit publishing to the three alarms")
    return problems


def deployment_role_problems(resources, group):
    """CodeDeploy's role: the limited Lambda policy, and sns:Publish on the topic only."""
    ref = group["Properties"].get("ServiceRoleArn", {})
    role_id = ref.get("Fn::GetAtt", [None])[0] if isinstance(ref, dict) else None
    role = resources.get(role_id, {}).get("Properties")
    if role is None:
        return ["the deployment group does not use this stack's own CodeDeploy role"]
    problems = []
    managed = [sub(m, {"AWS::Partition": "aws"}) for m in role.get("ManagedPolicyArns", [])]
    if managed != ["arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited"]:
        problems.append("CodeDeploy's role has managed policies %s, not the limited Lambda one" % managed)
    for policy in role.get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if as_list(statement["Action"]) != ["sns:Publish"] or as_list(statement["Resource"]) != [{"Ref": TOPIC}]:
                problems.append("CodeDeploy's role may %s on %s" % (statement["Action"], statement["Resource"]))
    return problems


def dashboard_problems(resources):
    dashboards = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    if len(dashboards) != 1:
        return ["expected one CloudWatch dashboard, found %d" % len(dashboards)]
    body, names = dashboards[0]["Properties"]["DashboardBody"]["Fn::Sub"]
    text = re.sub(r"\$\{[^}]+\}", "X", body)
    try:
        widgets = json.loads(text)["widgets"]
    except ValueError as error:
        return ["the dashboard body is not JSON once substituted: %s" % error]
    problems = []
    searches = " ".join(
        m.get("expression", "") for w in widgets for row in w["properties"].get("metrics", []) for m in row if isinstance(m, dict)
    )
    for metric in ("Invocations", "Errors", "Duration"):
        if 'MetricName="%s"' % metric not in searches:
            problems.append("the dashboard does not show %s of the alias by executed version" % metric)
    if "ExecutedVersion" not in searches:
        problems.append("the dashboard does not split the alias's metrics by executed version")
    for metric in ("ChecksPassed", "ChecksFailed", "HookDuration"):
        if metric not in searches:
            problems.append("the dashboard does not show the hooks' %s" % metric)
    shown = [a for w in widgets if w["type"] == "alarm" for a in w["properties"]["alarms"]]
    if len(shown) != len(ALARMS) or any("${%s.Arn}" % name not in body for name in ALARMS):
        problems.append("the dashboard's alarm widget does not show the three alarms")
    return problems


def all_problems(template, deployment_type="Canary10Percent5Minutes"):
    translated = translate(template, deployment_type)
    resources = translated["Resources"]
    return (
        deployment_group_problems(resources, deployment_type)
        + alarm_problems(resources)
        + hook_problems(resources)
        + iam_problems(resources)
        + watch_problems(resources)
        + notification_problems(resources, translated.get("Conditions", {}))
        + dashboard_problems(resources)
    )


# --- the tests ---------------------------------------------------------------------------


class TemplateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load_template()

    def test_the_template_keeps_every_promise(self):
        self.assertEqual(all_problems(self.template), [])

    def test_the_deployment_type_is_a_parameter_of_the_nine_predefined_types(self):
        parameter = self.template["Parameters"]["DeploymentType"]
        self.assertEqual(parameter["Default"], "Canary10Percent5Minutes")
        self.assertEqual(sorted(parameter["AllowedValues"]), sorted(PREDEFINED_TYPES))
        for deployment_type in ("AllAtOnce", "Linear10PercentEvery3Minutes"):
            resources = translate(self.template, deployment_type)["Resources"]
            self.assertEqual(deployment_group_problems(resources, deployment_type), [])

    def test_the_functions_are_rust_on_provided_al2023(self):
        for logical_id, binary in (("HelloFunction", "hello"), ("PreTrafficHook", "pre-traffic"), ("PostTrafficHook", "post-traffic")):
            resource = self.template["Resources"][logical_id]
            self.assertEqual(resource["Metadata"], {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": binary}})
        self.assertEqual(self.template["Globals"]["Function"]["Runtime"], "provided.al2023")
        self.assertEqual(self.template["Globals"]["Function"]["Handler"], "bootstrap")
        self.assertEqual(self.template["Resources"]["HelloFunction"]["Properties"]["AutoPublishAlias"], "live")

    def test_hooks_leave_the_framework_its_reporting_reserve(self):
        for logical_id in HOOKS.values():
            timeout = self.template["Resources"][logical_id]["Properties"]["Timeout"]
            self.assertGreaterEqual(timeout, 3 + 10, "%s: 3 s reserve plus time for the checks" % logical_id)
            self.assertEqual(self.template["Resources"][logical_id]["Properties"]["DeploymentPreference"], {"Enabled": False})

    def test_outputs_name_the_url_the_function_and_the_hooks(self):
        self.assertLessEqual({"ApiUrl", "HelloFunctionName", "PreTrafficHookName", "PostTrafficHookName"}, set(self.template["Outputs"]))


class MutationTest(unittest.TestCase):
    """Each rule catches the mistake it is for."""

    def broken(self, change):
        template = load_template()
        change(template["Resources"])
        return all_problems(template)

    def assertCaught(self, problems, text):
        self.assertTrue(any(text in p for p in problems), "expected a problem about %r, got %s" % (text, problems))

    def test_a_hook_without_the_codedeploy_prefix_is_caught(self):
        def rename(resources):
            resources["PreTrafficHook"]["Properties"]["FunctionName"] = {"Fn::Sub": "${AWS::StackName}_pre_traffic"}

        self.assertCaught(self.broken(rename), "may only invoke functions named CodeDeployHook_*")

    def test_an_iam_resource_widened_to_star_is_caught(self):
        def widen(resources):
            statement = resources["PostTrafficHook"]["Properties"]["Policies"][0]["Statement"][2]
            statement["Resource"] = "*"

        self.assertCaught(self.broken(widen), 'grants lambda:InvokeFunction on Resource "*"')

    def test_an_action_added_to_the_resourceless_statement_is_caught(self):
        def widen(resources):
            statements = resources["PostTrafficHook"]["Properties"]["Policies"][0]["Statement"]
            metrics = next(s for s in statements if "cloudwatch:GetMetricData" in as_list(s["Action"]))
            metrics["Action"] = as_list(metrics["Action"]) + ["lambda:InvokeFunction"]

        self.assertCaught(self.broken(widen), 'grants lambda:InvokeFunction on Resource "*"')

    def test_a_hook_that_cannot_read_metrics_is_caught(self):
        def drop(resources):
            statements = resources["PreTrafficHook"]["Properties"]["Policies"][0]["Statement"]
            statements[:] = [s for s in statements if "cloudwatch:GetMetricData" not in as_list(s["Action"])]

        self.assertCaught(self.broken(drop), "PreTrafficHook may not cloudwatch:GetMetricData")

    def test_invoking_the_unqualified_function_is_caught(self):
        def unqualified(resources):
            statement = resources["PreTrafficHook"]["Properties"]["Policies"][0]["Statement"][2]
            statement["Resource"] = {"Fn::Sub": "${HelloFunction.Arn}"}

        self.assertCaught(self.broken(unqualified), "least privilege")

    def test_invoking_every_version_alias_and_latest_is_caught(self):
        def widen(resources):
            statement = resources["PostTrafficHook"]["Properties"]["Policies"][0]["Statement"][2]
            statement["Resource"] = {"Fn::Sub": "${HelloFunction.Arn}:*"}

        self.assertCaught(self.broken(widen), "function:hello:*")

    def test_an_alarm_missing_from_the_deployment_preference_is_caught(self):
        def drop(resources):
            resources["HelloFunction"]["Properties"]["DeploymentPreference"]["Alarms"].pop()

        self.assertCaught(self.broken(drop), "does not watch AliasLatencyAlarm")

    def test_a_missing_hook_is_caught(self):
        def drop(resources):
            del resources["HelloFunction"]["Properties"]["DeploymentPreference"]["Hooks"]["PostTraffic"]

        self.assertCaught(self.broken(drop), "AfterAllowTrafficHook")

    def test_a_trigger_event_dropped_is_caught(self):
        def drop(resources):
            trigger = resources["HelloFunction"]["Properties"]["DeploymentPreference"]["TriggerConfigurations"][0]
            trigger["TriggerEvents"].remove("DeploymentRollback")

        self.assertCaught(self.broken(drop), "of DeploymentRollback")

    def test_an_alarm_without_its_action_is_caught(self):
        def drop(resources):
            del resources["AliasLatencyAlarm"]["Properties"]["AlarmActions"]

        self.assertCaught(self.broken(drop), "AliasLatencyAlarm does not send its AlarmActions")

    def test_an_unconditional_subscription_is_caught(self):
        def drop(resources):
            del resources["NotificationEmailSubscription"]["Condition"]

        self.assertCaught(self.broken(drop), "even when NotificationEmail is empty")

    def test_sams_broad_codedeploy_role_is_caught(self):
        def drop(resources):
            del resources["HelloFunction"]["Properties"]["DeploymentPreference"]["Role"]

        # SAM then makes its own role, with AWSCodeDeployRoleForLambda (sns:Publish on *).
        self.assertCaught(self.broken(drop), "not the limited Lambda one")

    def test_a_dashboard_without_the_hooks_is_caught(self):
        def drop(resources):
            body, names = resources["HelloDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
            resources["HelloDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"] = [body.replace("HookDuration", "Nothing"), names]

        self.assertCaught(self.broken(drop), "the hooks' HookDuration")

    def test_a_watch_without_its_lease_is_caught(self):
        def drop(resources):
            del resources["PreTrafficWatchLease"]

        self.assertCaught(self.broken(drop), "no alias watch-lease")

    def test_a_post_traffic_hook_that_does_not_check_the_watch_is_caught(self):
        def drop(resources):
            del resources["PostTrafficHook"]["Properties"]["Environment"]["Variables"]["CODEDEPLOY_HOOKS_WATCHED_BY"]

        self.assertCaught(self.broken(drop), "does not check the watch")

    def test_stopping_any_deployment_is_caught(self):
        def widen(resources):
            statement = resources["PreTrafficHook"]["Properties"]["Policies"][0]["Statement"][0]
            statement["Resource"] = {"Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:*"}

        self.assertCaught(self.broken(widen), "may codedeploy:StopDeployment on")

    def test_a_post_traffic_hook_that_may_stop_deployments_is_caught(self):
        def grant(resources):
            statement = resources["PostTrafficHook"]["Properties"]["Policies"][0]["Statement"][0]
            statement["Action"].append("codedeploy:StopDeployment")

        self.assertCaught(self.broken(grant), "PostTrafficHook may codedeploy:StopDeployment, which it does not need")

    def test_a_missing_report_permission_is_caught(self):
        def drop(resources):
            statement = resources["PreTrafficHook"]["Properties"]["Policies"][0]["Statement"][0]
            statement["Action"] = ["codedeploy:GetDeployment"]

        self.assertCaught(self.broken(drop), "may not codedeploy:PutLifecycleEventHookExecutionStatus")


if __name__ == "__main__":
    unittest.main()
