"""Permissions as boto3 sees them (issue 22): `serve --credentials-file` writes each
function's role credentials; calls signed with them are checked against the role's policies,
and a call signed with a wrong secret is refused.

AWS's models (botocore `lambda`, `codedeploy`, `cloudwatch`) list no access-denied or
signature error for these operations: the codes asserted are the Common Errors pages'
(`AccessDeniedException`, HTTP 400) and the SDK's signature errors
(`InvalidSignatureException`, `SignatureDoesNotMatch`), as the stand-in's code cites them.
"""

import configparser
import os
import tempfile
import unittest

import boto3
import botocore.config
from botocore.exceptions import ClientError

from local_serve import Serve

PRE, POST, HELLO = "CodeDeployHook_local_pre_traffic", "CodeDeployHook_local_post_traffic", "HelloFunction"
ACCOUNT = "000000000000"


class Permissions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.credentials = os.path.join(cls.dir.name, "credentials")
        cls.serve = Serve("--credentials-file", cls.credentials)
        # serve writes the file before it prints AWS_ENDPOINT_URL, which Serve waits for.
        cls.profiles = configparser.ConfigParser()
        cls.profiles.read(cls.credentials)

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.dir.cleanup()

    def client(self, service, function, secret=None):
        profile = self.profiles[function]
        config = botocore.config.Config(retries={"max_attempts": 1})
        return boto3.session.Session(
            aws_access_key_id=profile["aws_access_key_id"],
            aws_secret_access_key=secret or profile["aws_secret_access_key"],
            aws_session_token=profile["aws_session_token"],
            region_name="us-east-1",
        ).client(service, endpoint_url=self.serve.endpoint, config=config)

    def test_the_file_holds_a_profile_per_function_readable_by_its_owner_only(self):
        self.assertEqual(set(self.profiles.sections()), {PRE, POST, HELLO})
        self.assertEqual(os.stat(self.credentials).st_mode & 0o777, 0o600)
        self.assertTrue(self.profiles[PRE]["aws_access_key_id"].startswith("ASIA"))

    def test_a_granted_call_is_served(self):
        # The PreTraffic hook may invoke the version under test, and read the live alias.
        answer = self.client("lambda", PRE).invoke(FunctionName=HELLO, Qualifier="2", Payload=b'{"name": "Ada"}')
        self.assertEqual(answer["StatusCode"], 200)
        alias = self.client("lambda", PRE).get_alias(FunctionName=HELLO, Name="live")
        self.assertEqual(alias["Name"], "live")

    def test_a_lambda_call_no_policy_allows_is_access_denied_naming_it(self):
        # The PostTraffic hook may invoke version 2 only, not version 1.
        with self.assertRaises(ClientError) as caught:
            self.client("lambda", POST).invoke(FunctionName=HELLO, Qualifier="1", Payload=b"{}")
        error = caught.exception.response["Error"]
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(
            error["Message"],
            "User: arn:aws:sts::%s:assumed-role/PostTrafficHookRole/%s is not authorized to perform: "
            "lambda:InvokeFunction on resource: arn:aws:lambda:us-east-1:%s:function:%s:1 because no "
            "identity-based policy allows the lambda:InvokeFunction action" % (ACCOUNT, POST, ACCOUNT, HELLO))

    def test_a_codedeploy_call_no_policy_allows_is_access_denied(self):
        # The PostTraffic hook's role grants no ListDeployments; it is checked on the
        # deployment group serve registered.
        with self.assertRaises(ClientError) as caught:
            self.client("codedeploy", POST).list_deployments(
                applicationName="ServerlessDeploymentApplication", deploymentGroupName="HelloFunctionDeploymentGroup")
        error = caught.exception.response["Error"]
        self.assertEqual(error["Code"], "AccessDeniedException")
        self.assertIn("codedeploy:ListDeployments on resource: arn:aws:codedeploy:us-east-1:%s:deploymentgroup:"
                      "ServerlessDeploymentApplication/HelloFunctionDeploymentGroup" % ACCOUNT, error["Message"])

    def test_a_cloudwatch_call_no_policy_allows_is_access_denied(self):
        import datetime
        now = datetime.datetime.now(datetime.timezone.utc)
        query = [{"Id": "e", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors"},
                                             "Period": 60, "Stat": "Sum"}}]
        with self.assertRaises(ClientError) as caught:
            self.client("cloudwatch", HELLO).get_metric_data(
                MetricDataQueries=query, StartTime=now - datetime.timedelta(minutes=5), EndTime=now)
        self.assertEqual(caught.exception.response["Error"]["Code"], "AccessDeniedException")
        self.assertIn("cloudwatch:GetMetricData on resource: *", caught.exception.response["Error"]["Message"])

    def test_a_request_signed_with_the_wrong_secret_is_refused(self):
        wrong = "x" * 40
        with self.assertRaises(ClientError) as caught:
            self.client("lambda", PRE, secret=wrong).get_alias(FunctionName=HELLO, Name="live")
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidSignatureException")
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 403)
        with self.assertRaises(ClientError) as caught:
            self.client("codedeploy", PRE, secret=wrong).list_deployments()
        self.assertEqual(caught.exception.response["Error"]["Code"], "InvalidSignatureException")

    def test_a_key_the_stand_in_did_not_issue_is_the_keyboard_and_may_do_anything(self):
        answer = self.serve.lambda_.invoke(FunctionName=HELLO, Qualifier="1", Payload=b"{}")
        self.assertEqual(answer["StatusCode"], 200)


if __name__ == "__main__":
    unittest.main()
