// The benchmark's hook in Node.js (AWS SDK v3): GetDeployment, GetApplicationRevision, Invoke, report, behind a
// minimal Lambda Runtime API loop (what the managed nodejs runtime does for a handler).
import { CodeDeployClient, GetApplicationRevisionCommand, GetDeploymentCommand, PutLifecycleEventHookExecutionStatusCommand } from "@aws-sdk/client-codedeploy";
import { LambdaClient, InvokeCommand } from "@aws-sdk/client-lambda";

const codedeploy = new CodeDeployClient({});
const lambda = new LambdaClient({});
const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation`;

async function handler(event) {
  const { DeploymentId, LifecycleEventHookExecutionId } = event;
  const { deploymentInfo } = await codedeploy.send(new GetDeploymentCommand({ deploymentId: DeploymentId }));
  // GetDeployment gives the AppSpec's sha256 only, as in AWS.
  const { revision } = await codedeploy.send(new GetApplicationRevisionCommand({
    applicationName: deploymentInfo.applicationName, revision: deploymentInfo.revision,
  }));
  const appspec = JSON.parse(revision.appSpecContent.content);
  const props = Object.values(appspec.Resources[0])[0].Properties;
  const out = await lambda.send(new InvokeCommand({
    FunctionName: props.Name, Qualifier: props.TargetVersion, Payload: Buffer.from('{"name": "bench"}'),
  }));
  const status = out.FunctionError ? "Failed" : "Succeeded";
  await codedeploy.send(new PutLifecycleEventHookExecutionStatusCommand({
    deploymentId: DeploymentId, lifecycleEventHookExecutionId: LifecycleEventHookExecutionId, status,
  }));
  return { status };
}

for (;;) {
  const next = await fetch(`${api}/next`);
  const id = next.headers.get("lambda-runtime-aws-request-id");
  const event = await next.json();
  try {
    const result = await handler(event);
    await fetch(`${api}/${id}/response`, { method: "POST", body: JSON.stringify(result) });
  } catch (e) {
    await fetch(`${api}/${id}/error`, { method: "POST", body: JSON.stringify({ errorMessage: String(e), errorType: "Error" }) });
  }
}
