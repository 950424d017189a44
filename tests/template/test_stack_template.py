"""hooks-examples/stack/template.yaml, expanded by the real SAM translator: two functions
released as one stack update, one pair of hooks shared by both.

Each rule returns what is wrong; the template must break none, and each rule is shown to
catch the mistake it is for on a broken copy.

Run: python3 -m unittest discover -s tests/template -v
"""

import pathlib
import unittest

from samtranslator.yaml_helper import yaml_parse

from test_template import sub, translate

ROOT = pathlib.Path(__file__).resolve().parents[2]
STACK = ROOT / "hooks-examples" / "stack" / "template.yaml"
FUNCTIONS = ["GreeterFunction", "WelcomeFunction"]
HOOKS = {"BeforeAllowTrafficHook": "PreTrafficHook", "AfterAllowTrafficHook": "PostTrafficHook"}


def load():
    return yaml_parse(STACK.read_text())


def groups_problems(resources):
    """One CodeDeploy application for the stack, a deployment group per function."""
    problems = []
    apps = [k for k, r in resources.items() if r["Type"] == "AWS::CodeDeploy::Application"]
    if len(apps) != 1:
        problems.append("expected one CodeDeploy application, found %d" % len(apps))
    groups = {k for k, r in resources.items() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"}
    for function in FUNCTIONS:
        if function + "DeploymentGroup" not in groups:
            problems.append("%s has no deployment group of its own" % function)
    return problems


def shared_hooks_problems(resources):
    """Each alias's update policy names the same hooks, which carry no target variable."""
    problems = []
    aliases = [r for r in resources.values() if r["Type"] == "AWS::Lambda::Alias" and "UpdatePolicy" in r]
    if len(aliases) != len(FUNCTIONS):
        problems.append("expected %d aliases shifted by CodeDeploy, found %d" % (len(FUNCTIONS), len(aliases)))
    for alias in aliases:
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        for key, hook in HOOKS.items():
            if update.get(key, {}).get("Ref") != hook:
                problems.append("an alias's %s is %s, not the shared %s" % (key, update.get(key), hook))
    for hook in HOOKS.values():
        variables = resources.get(hook, {}).get("Properties", {}).get("Environment", {}).get("Variables", {})
        if "CODEDEPLOY_HOOKS_TARGET" in variables:
            problems.append("%s names one target in CODEDEPLOY_HOOKS_TARGET: a shared hook reads its AppSpec" % hook)
    return problems


def lease_problems(resources):
    """The watch's leases: watch-lease, and watch-lease-FUNCTION for each function."""
    names = set()
    for r in resources.values():
        if r["Type"] != "AWS::Lambda::Alias":
            continue
        props = r["Properties"]
        if props.get("FunctionName") == {"Ref": "PreTrafficHook"}:
            names.add(sub(props.get("Name"), {f: f for f in FUNCTIONS}))
    wanted = {"watch-lease"} | {"watch-lease-" + f for f in FUNCTIONS}
    return ["PreTrafficHook has no alias %s for the watch's lease" % n for n in sorted(wanted - names)]


RULES = [groups_problems, shared_hooks_problems, lease_problems]


class StackTemplate(unittest.TestCase):
    def test_the_stack_breaks_no_rule(self):
        resources = translate(load())["Resources"]
        for rule in RULES:
            self.assertEqual(rule(resources), [], rule.__name__)

    def test_each_rule_catches_its_mistake(self):
        broken = load()
        del broken["Resources"]["WelcomeFunction"]["Properties"]["DeploymentPreference"]
        self.assertTrue(groups_problems(translate(broken)["Resources"]))

        broken = load()
        broken["Resources"]["PreTrafficHook"]["Properties"]["Environment"] = {
            "Variables": {"CODEDEPLOY_HOOKS_TARGET": {"Ref": "GreeterFunction.Version"}}
        }
        self.assertTrue(shared_hooks_problems(translate(broken)["Resources"]))

        broken = load()
        del broken["Resources"]["WelcomeWatchLease"]
        problems = lease_problems(translate(broken)["Resources"])
        self.assertEqual(problems, ["PreTrafficHook has no alias watch-lease-WelcomeFunction for the watch's lease"])


if __name__ == "__main__":
    unittest.main()
