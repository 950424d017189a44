"""The benchmark's hook in Python (boto3): GetDeployment, GetApplicationRevision, Invoke, report, behind a minimal
Lambda Runtime API loop (what the managed python runtime does for a handler)."""
import json
import os
import urllib.request

import boto3

codedeploy = boto3.client("codedeploy")
lambda_client = boto3.client("lambda")
API = "http://%s/2018-06-01/runtime/invocation" % os.environ["AWS_LAMBDA_RUNTIME_API"]


def handler(event):
    info = codedeploy.get_deployment(deploymentId=event["DeploymentId"])["deploymentInfo"]
    # GetDeployment gives the AppSpec's sha256 only, as in AWS.
    revision = codedeploy.get_application_revision(applicationName=info["applicationName"], revision=info["revision"])
    appspec = json.loads(revision["revision"]["appSpecContent"]["content"])
    props = list(appspec["Resources"][0].values())[0]["Properties"]
    out = lambda_client.invoke(FunctionName=props["Name"], Qualifier=props["TargetVersion"], Payload=b'{"name": "bench"}')
    status = "Failed" if out.get("FunctionError") else "Succeeded"
    codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return {"status": status}


while True:
    with urllib.request.urlopen(API + "/next") as response:
        request_id = response.headers["lambda-runtime-aws-request-id"]
        event = json.loads(response.read())
    try:
        body, path = json.dumps(handler(event)).encode(), "/%s/response" % request_id
    except Exception as error:  # report it to the runtime, as the managed runtime does
        body, path = json.dumps({"errorMessage": str(error), "errorType": "Error"}).encode(), "/%s/error" % request_id
    urllib.request.urlopen(urllib.request.Request(API + path, data=body, method="POST")).read()
