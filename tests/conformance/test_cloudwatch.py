"""CloudWatch GetMetricData of codedeploy-local, through boto3 on each wire its service model
lists (smithy-rpc-v2-cbor, json, query), against the numbers the framework's canary analysis
read for the same window.

botocore speaks the protocol of the model's `protocols` that comes first in its own order of
preference (`PRIORITY_ORDERED_SUPPORTED_PROTOCOLS`: json, for CloudWatch); aws-sdk-rust speaks
smithy-rpc-v2-cbor. To drive the other two with the real botocore serializers and parsers, a
copy of the model that lists only `smithy-rpc-v2-cbor` (or only `query`) is put first on the
loader's search path.

Needs the workspace built (`cargo build --workspace --bins`) and boto3:
    python3 -m unittest discover -s tests/conformance -v
"""

import datetime
import gzip
import json
import os
import pathlib
import subprocess
import tempfile
import unittest

import boto3
import botocore.config
import botocore.session
from botocore.exceptions import ClientError

from local_serve import BIN_DIR, Serve

FUNCTION, ALIAS = "HelloFunction", "live"
CALLS = 300


def cloudwatch_on(protocol, endpoint, models_dir):
    """A CloudWatch client of boto3 speaking `protocol` (None: botocore's own choice)."""
    session = botocore.session.get_session()
    if protocol is not None:
        loader = session.get_component("data_loader")
        original = pathlib.Path(botocore.__file__).parent / "data" / "cloudwatch" / "2010-08-01" / "service-2.json.gz"
        model = json.loads(gzip.decompress(original.read_bytes()))
        assert protocol in model["metadata"]["protocols"], model["metadata"]["protocols"]
        model["metadata"]["protocol"] = protocol
        model["metadata"]["protocols"] = [protocol]
        folder = pathlib.Path(models_dir, protocol, "cloudwatch", "2010-08-01")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "service-2.json").write_text(json.dumps(model))
        loader.search_paths.insert(0, str(pathlib.Path(models_dir, protocol)))
    config = botocore.config.Config(retries={"max_attempts": 1})
    client = boto3.session.Session(
        botocore_session=session, aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    ).client("cloudwatch", endpoint_url=endpoint, config=config)
    assert client.meta.service_model.resolved_protocol == (protocol or "json")
    return client


def dimensions(version):
    return [{"Name": "FunctionName", "Value": FUNCTION}, {"Name": "Resource", "Value": "%s:%s" % (FUNCTION, ALIAS)},
            {"Name": "ExecutedVersion", "Value": version}]


def queries(period):
    """The analysis's own queries: per version, invocations and errors through the alias."""
    return [
        {"Id": "%s%s" % (metric.lower(), version), "ReturnData": True,
         "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dimensions(version)},
                        "Period": period, "Stat": "Sum"}}
        for version in ("1", "2") for metric in ("Invocations", "Errors")
    ]


class GetMetricDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Both versions fail 30% of the calls not marked as smoke traffic; the alarms' threshold
        # is raised so that nothing reacts to it.
        cls.serve = Serve("--current-env", "HELLO_FAULT=flaky:0.3", "--target-env", "HELLO_FAULT=flaky:0.3",
                          "--parameter", "ErrorsThreshold=100000")
        cls.models = tempfile.TemporaryDirectory()
        cls.start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        lambda_ = cls.serve.lambda_
        lambda_.update_alias(FunctionName=FUNCTION, Name=ALIAS, FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        cls.sent = {"1": [0, 0], "2": [0, 0]}  # version: [calls, function errors]
        for _ in range(CALLS):
            out = lambda_.invoke(FunctionName=FUNCTION, Qualifier=ALIAS, Payload=b'{"name": "metrics"}')
            counts = cls.sent[out["ExecutedVersion"]]
            counts[0] += 1
            counts[1] += 1 if "FunctionError" in out else 0
        cls.report = cls.analyse()

    @classmethod
    def tearDownClass(cls):
        cls.serve.stop()
        cls.models.cleanup()

    @classmethod
    def analyse(cls):
        """The post-traffic example hook's canary analysis, run as a CLI against serve."""
        env = dict(cls.serve.env, AWS_ENDPOINT_URL=cls.serve.endpoint)
        done = subprocess.run(
            [str(BIN_DIR / "post-traffic"), "--function", FUNCTION, "--qualifier", "2", "--alias", ALIAS,
             "--current-version", "1", "--since", cls.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "--filter", "canary analysis", "--format", "json"],
            env=env, capture_output=True, text=True, timeout=60)
        summary = json.loads(done.stdout)
        assert summary["canary"], "no canary report: %s %s" % (done.stdout, done.stderr[-2000:])
        return summary["canary"][0]

    def results(self, client):
        start = datetime.datetime.fromtimestamp(self.report["start"], datetime.timezone.utc)
        period = self.report["period_s"]
        out = client.get_metric_data(MetricDataQueries=queries(period), StartTime=start,
                                     EndTime=start + datetime.timedelta(seconds=period))
        return {r["Id"]: (r["Timestamps"], r["Values"], r["StatusCode"]) for r in out["MetricDataResults"]}

    def test_the_model_lists_three_wires_and_boto3_speaks_json(self):
        model = botocore.session.get_session().get_service_model("cloudwatch")
        self.assertEqual(model.metadata["protocols"], ["smithy-rpc-v2-cbor", "json", "query"])
        self.assertEqual(model.resolved_protocol, "json")

    def test_every_wire_returns_the_numbers_the_analysis_used(self):
        errors = next(m for m in self.report["metrics"] if m["metric"] == "errors")
        for protocol in (None, "smithy-rpc-v2-cbor", "query"):
            with self.subTest(protocol=protocol or "botocore's choice"):
                got = self.results(cloudwatch_on(protocol, self.serve.endpoint, self.models.name))
                sums = {k: sum(v[1]) for k, v in got.items()}
                self.assertEqual({v[2] for v in got.values()}, {"Complete"})
                # One period covers the window: one data point each, at the window's start.
                for timestamps, values, _ in got.values():
                    self.assertEqual(len(timestamps), 1, got)
                    self.assertEqual(int(timestamps[0].timestamp()), self.report["start"])
                self.assertEqual(sums["invocations1"], errors["current_samples"])
                self.assertEqual(sums["invocations2"], errors["new_samples"])
                self.assertAlmostEqual(sums["errors1"] / sums["invocations1"], errors["current"])
                self.assertAlmostEqual(sums["errors2"] / sums["invocations2"], errors["new"])
                # And they are what really ran: the calls above, as the test counted them.
                self.assertEqual((sums["invocations1"], sums["errors1"]), tuple(self.sent["1"]))
                self.assertEqual((sums["invocations2"], sums["errors2"]), tuple(self.sent["2"]))

    def test_bad_input_is_refused_with_the_models_error_on_every_wire(self):
        # GetMetricData's model lists only InvalidNextToken; bad input gets CloudWatch's
        # InvalidParameterValueException, whose code the model gives (other operations list it).
        # Which error AWS returns for each bad input is not documented.
        shape = botocore.session.get_session().get_service_model("cloudwatch").shape_for("InvalidParameterValueException")
        code = shape.metadata["error"]["code"]
        self.assertEqual((code, shape.metadata["error"]["httpStatusCode"]), ("InvalidParameterValue", 400))
        now = datetime.datetime.now(datetime.timezone.utc)
        for protocol in (None, "smithy-rpc-v2-cbor", "query"):
            with self.subTest(protocol=protocol or "botocore's choice"):
                client = cloudwatch_on(protocol, self.serve.endpoint, self.models.name)
                with self.assertRaises(ClientError) as raised:
                    client.get_metric_data(MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}],
                                           StartTime=now - datetime.timedelta(minutes=5), EndTime=now)
                self.assertEqual(raised.exception.response["Error"]["Code"], code)
                self.assertIn("metric math", raised.exception.response["Error"]["Message"])
                with self.assertRaises(ClientError) as raised:
                    client.get_metric_data(MetricDataQueries=queries(60), StartTime=now, EndTime=now)
                self.assertIn("StartTime must be less than", raised.exception.response["Error"]["Message"])

    def test_newest_data_points_come_first_unless_asked_otherwise(self):
        client = cloudwatch_on(None, self.serve.endpoint, self.models.name)
        start = datetime.datetime.fromtimestamp(self.report["start"], datetime.timezone.utc)
        end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
        query = [{"Id": "all", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                         "Dimensions": [{"Name": "FunctionName", "Value": FUNCTION}]},
                                              "Period": 1, "Stat": "Sum"}}]
        descending = client.get_metric_data(MetricDataQueries=query, StartTime=start, EndTime=end)
        ascending = client.get_metric_data(MetricDataQueries=query, StartTime=start, EndTime=end,
                                           ScanBy="TimestampAscending")
        down = descending["MetricDataResults"][0]["Timestamps"]
        up = ascending["MetricDataResults"][0]["Timestamps"]
        self.assertEqual(down, sorted(down, reverse=True))
        self.assertEqual(up, list(reversed(down)))
        self.assertGreaterEqual(sum(descending["MetricDataResults"][0]["Values"]), CALLS)


if __name__ == "__main__":
    unittest.main()
