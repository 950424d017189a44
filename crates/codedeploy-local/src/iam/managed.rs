//! The AWS managed policies a Lambda deployment uses, as the AWS Managed Policy reference
//! gives their documents (one page per policy, with its version), read 2026-12-05.

use super::Policy;

/// `AWSCodeDeployRoleForLambda`, version 3: what CodeDeploy's service role may do in a
/// Lambda deployment. Note the invoke grant: only functions named `CodeDeployHook_*`.
pub const CODEDEPLOY_ROLE_FOR_LAMBDA: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Action": ["cloudwatch:DescribeAlarms", "lambda:UpdateAlias", "lambda:GetAlias",
                "lambda:GetProvisionedConcurrencyConfig", "sns:Publish"],
     "Resource": "*", "Effect": "Allow"},
    {"Action": ["s3:GetObject", "s3:GetObjectVersion"],
     "Resource": "arn:aws:s3:::*/CodeDeploy/*", "Effect": "Allow"},
    {"Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "*",
     "Condition": {"StringEquals": {"s3:ExistingObjectTag/UseWithCodeDeploy": "true"}},
     "Effect": "Allow"},
    {"Action": ["lambda:InvokeFunction"],
     "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*", "Effect": "Allow"}
  ]
}"#;

/// `AWSCodeDeployRoleForLambdaLimited`, version 1: the same without `sns:Publish`. Written
/// out, not derived from the other: each is its own document in the reference, with its own
/// version, and may change alone.
pub const CODEDEPLOY_ROLE_FOR_LAMBDA_LIMITED: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Action": ["cloudwatch:DescribeAlarms", "lambda:UpdateAlias", "lambda:GetAlias",
                "lambda:GetProvisionedConcurrencyConfig"],
     "Resource": "*", "Effect": "Allow"},
    {"Action": ["s3:GetObject", "s3:GetObjectVersion"],
     "Resource": "arn:aws:s3:::*/CodeDeploy/*", "Effect": "Allow"},
    {"Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": "*",
     "Condition": {"StringEquals": {"s3:ExistingObjectTag/UseWithCodeDeploy": "true"}},
     "Effect": "Allow"},
    {"Action": ["lambda:InvokeFunction"],
     "Resource": "arn:aws:lambda:*:*:function:CodeDeployHook_*", "Effect": "Allow"}
  ]
}"#;

/// `AWSLambdaBasicExecutionRole`: a function's logs in CloudWatch Logs.
pub const LAMBDA_BASIC_EXECUTION_ROLE: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow",
     "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
     "Resource": "*"}
  ]
}"#;

/// A managed policy by name (`AWSCodeDeployRoleForLambda`) or ARN
/// (`arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda`); `None` for one the
/// stand-in does not know.
#[must_use]
pub fn by_name(name_or_arn: &str) -> Option<Policy> {
    let name = name_or_arn.rsplit('/').next().unwrap_or(name_or_arn);
    let document = match name {
        "AWSCodeDeployRoleForLambda" => CODEDEPLOY_ROLE_FOR_LAMBDA,
        "AWSCodeDeployRoleForLambdaLimited" => CODEDEPLOY_ROLE_FOR_LAMBDA_LIMITED,
        "AWSLambdaBasicExecutionRole" => LAMBDA_BASIC_EXECUTION_ROLE,
        _ => return None,
    };
    Policy::parse(name, document).ok()
}
