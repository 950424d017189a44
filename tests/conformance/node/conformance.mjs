// codedeploy-local serve against the AWS SDK for JavaScript v3: the behaviours of the
// conformance suite that matter most to Node hooks and pipelines. Run by
// tests/conformance/test_node_sdk.py with AWS_ENDPOINT_URL set; exits 1 naming what differs.
import assert from "node:assert/strict";
import {
  CodeDeployClient, CreateDeploymentCommand, GetApplicationRevisionCommand, GetDeploymentCommand,
} from "@aws-sdk/client-codedeploy";
import { InvokeCommand, LambdaClient, paginateListVersionsByFunction } from "@aws-sdk/client-lambda";

const config = { region: "us-east-1", credentials: { accessKeyId: "local", secretAccessKey: "local" }, maxAttempts: 1 };
const codedeploy = new CodeDeployClient(config);
const lambda = new LambdaClient(config);
const FUNCTION = "HelloFunction";

async function rejects(promise, name) {
  try {
    await promise;
  } catch (error) {
    assert.equal(error.name, name, `expected ${name}, got ${error.name}: ${error.message}`);
    assert.ok(error.$metadata.requestId, "errors carry x-amzn-RequestId");
    return error;
  }
  assert.fail(`expected ${name}, but the call succeeded`);
}

async function appspecIsReadFromTheApplicationRevision() {
  const content = JSON.stringify({
    version: 0.0,
    Resources: [{ [FUNCTION]: { Type: "AWS::Lambda::Function", Properties: { Name: FUNCTION, Alias: "live", CurrentVersion: "1", TargetVersion: "2" } } }],
    Hooks: [],
  });
  const { deploymentId } = await codedeploy.send(new CreateDeploymentCommand({
    applicationName: "ServerlessDeploymentApplication", deploymentGroupName: "HelloFunctionDeploymentGroup",
    revision: { revisionType: "AppSpecContent", appSpecContent: { content } },
  }));
  const deadline = Date.now() + 60_000;
  let info;
  do {
    ({ deploymentInfo: info } = await codedeploy.send(new GetDeploymentCommand({ deploymentId })));
    if (!["Created", "InProgress"].includes(info.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 50)); // polling a status, bounded by the deadline
  } while (Date.now() < deadline);
  assert.equal(info.status, "Succeeded");
  assert.equal(info.revision.appSpecContent.content, undefined, "GetDeployment never returns the content");
  const { revision } = await codedeploy.send(new GetApplicationRevisionCommand({
    applicationName: info.applicationName, revision: info.revision,
  }));
  assert.equal(revision.appSpecContent.content, content);
}

async function idsAndLimits() {
  await rejects(codedeploy.send(new GetDeploymentCommand({ deploymentId: "not-an-id" })), "InvalidDeploymentIdException");
  const tooLarge = Buffer.from(JSON.stringify({ pad: "x".repeat(6 * 1024 * 1024) }));
  const error = await rejects(lambda.send(new InvokeCommand({ FunctionName: FUNCTION, Qualifier: "1", Payload: tooLarge })),
    "RequestTooLargeException");
  assert.equal(error.$metadata.httpStatusCode, 413);
  await rejects(lambda.send(new InvokeCommand({ FunctionName: `${FUNCTION}:1`, Qualifier: "2", Payload: Buffer.from("{}") })),
    "InvalidParameterValueException");
}

async function latestAndRequestIds() {
  const out = await lambda.send(new InvokeCommand({ FunctionName: FUNCTION, Payload: Buffer.from("{}"), LogType: "Tail" }));
  assert.equal(out.ExecutedVersion, "$LATEST");
  const log = Buffer.from(out.LogResult, "base64").toString();
  assert.ok(log.includes(`START RequestId: ${out.$metadata.requestId} Version: $LATEST`), log);
  const versions = [];
  for await (const page of paginateListVersionsByFunction({ client: lambda, pageSize: 1 }, { FunctionName: FUNCTION })) {
    versions.push(...page.Versions.map((v) => v.Version));
  }
  assert.deepEqual(versions, ["$LATEST", "1", "2"]);
}

for (const check of [appspecIsReadFromTheApplicationRevision, idsAndLimits, latestAndRequestIds]) {
  try {
    await check();
    console.log(`ok ${check.name}`);
  } catch (error) {
    console.error(`FAILED ${check.name}: ${error.message}`);
    process.exitCode = 1;
  }
}
