"""Lint the shipped deployer policies with parliament (an IAM policy linter: actions that
exist, resources of the form the Service Authorization Reference gives each action).

Run: python3 tests/policies/lint.py deployer-policy.json hooks-examples/serverless/deployer-policy.json
Exits 1 naming each finding not explained below.
"""

import sys

import parliament

# Findings that are parliament's, not the policy's, each with why.
EXPLAINED = {
    # The SAM transform's ARN has the account `aws`, as AWS's documentation of the
    # permissions `sam deploy` needs writes it; parliament expects 12 digits there.
    ("INVALID_ARN", "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31"),
}


def findings(path):
    with open(path) as f:
        policy = parliament.analyze_policy_string(f.read(), filepath=path, config=parliament.config)
    for finding in policy.findings:
        finding = parliament.enhance_finding(finding)
        location = finding.location.get("string", "")
        if (finding.issue, location) not in EXPLAINED:
            yield "%s: %s %s - %s %s" % (path, finding.severity, finding.issue, finding.detail, finding.location)


def main(paths):
    found = [f for path in paths for f in findings(path)]
    for f in found:
        print(f)
    print("%d policies, %d findings" % (len(paths), len(found)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
