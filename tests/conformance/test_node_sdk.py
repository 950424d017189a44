"""codedeploy-local serve against the AWS SDK for JavaScript v3 (tests/conformance/node).

Needs the workspace built, Node, and `npm ci` in tests/conformance/node (.ci/run does it);
skipped without the SDK installed.
"""

import pathlib
import subprocess
import unittest

from local_serve import Serve

NODE_DIR = pathlib.Path(__file__).resolve().parent / "node"


@unittest.skipUnless((NODE_DIR / "node_modules" / "@aws-sdk" / "client-lambda").is_dir(),
                     "run `npm ci` in tests/conformance/node")
class NodeSdkTest(unittest.TestCase):
    def test_the_javascript_sdk_sees_what_aws_would_answer(self):
        serve = Serve("--time-scale", "600")
        try:
            env = dict(serve.env, AWS_ENDPOINT_URL=serve.endpoint)
            result = subprocess.run(["node", "conformance.mjs"], cwd=NODE_DIR, env=env,
                                    capture_output=True, text=True, timeout=120)
        finally:
            serve.stop()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(result.stdout.count("ok "), 3, result.stdout)


if __name__ == "__main__":
    unittest.main()
