//! Recognizing smoke traffic in the *target* function.
//!
//! Every invocation a check makes carries a client context
//! `{"custom": {"codedeploy-hooks": "smoke", "check": "<check name>", ...}}`. A target
//! function can use it to keep smoke traffic out of business metrics, or to skip side
//! effects such as sending e-mail. This module is available without the `hook` feature, so
//! target functions depend on this crate with `default-features = false` and no AWS SDK.
//!
//! ```
//! use codedeploy_hooks::smoke;
//! use lambda_runtime::Context;
//!
//! let ctx = Context::default(); // a real one comes with each LambdaEvent
//! assert!(!smoke::is_smoke_traffic(&ctx));
//! ```

use lambda_runtime::Context;

/// The `custom` key that marks smoke traffic.
pub const MARKER_KEY: &str = "codedeploy-hooks";
/// The value of [`MARKER_KEY`] in smoke traffic.
pub const MARKER_VALUE: &str = "smoke";
/// The `custom` key holding the name of the check that sent the invocation.
pub const CHECK_KEY: &str = "check";
/// The `custom` key holding the CodeDeploy deployment id, when there is one.
pub const DEPLOYMENT_KEY: &str = "deployment-id";

/// Whether this invocation was sent by a check of a CodeDeploy hook.
///
/// ```
/// use lambda_runtime::Context;
///
/// // In a target function's handler: e.g. keep smoke traffic out of business metrics.
/// let ctx = Context::default(); // real traffic: no client context
/// assert!(!codedeploy_hooks::smoke::is_smoke_traffic(&ctx));
/// ```
pub fn is_smoke_traffic(ctx: &Context) -> bool {
    ctx.client_context
        .as_ref()
        .and_then(|c| c.custom.get(MARKER_KEY))
        .is_some_and(|v| v == MARKER_VALUE)
}

/// The name of the check that sent this invocation, for smoke traffic.
///
/// ```
/// use codedeploy_hooks::smoke::check_name;
/// use lambda_runtime::Context;
/// assert_eq!(check_name(&Context::default()), None, "real traffic names no check");
/// ```
pub fn check_name(ctx: &Context) -> Option<&str> {
    if !is_smoke_traffic(ctx) {
        return None;
    }
    ctx.client_context
        .as_ref()?
        .custom
        .get(CHECK_KEY)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ctx_with(custom: &[(&str, &str)]) -> Context {
        let mut ctx = Context::default();
        let json = serde_json::json!({
            "custom": custom.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>()
        });
        ctx.client_context = Some(serde_json::from_value(json).unwrap());
        ctx
    }

    #[test]
    fn smoke_traffic_is_recognized_by_its_marker() {
        let ctx = ctx_with(&[(MARKER_KEY, MARKER_VALUE), (CHECK_KEY, "greets")]);
        assert!(is_smoke_traffic(&ctx));
        assert_eq!(check_name(&ctx), Some("greets"));
        let other = ctx_with(&[(MARKER_KEY, "something-else"), (CHECK_KEY, "greets")]);
        assert!(!is_smoke_traffic(&other));
        assert_eq!(check_name(&other), None);
    }
}
