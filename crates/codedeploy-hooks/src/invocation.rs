//! The result of one invocation of the target version.

use std::borrow::Cow;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::check::CheckError;
use crate::error::Error;

/// How much of a payload or log goes into a failure message.
const SHOWN_BYTES: usize = 512;

/// What one invocation of the target version returned.
///
/// ```no_run
/// # async fn demo(t: codedeploy_hooks::Target) -> codedeploy_hooks::CheckResult {
/// use serde_json::{json, Value};
///
/// let out = t.invoke(json!({"name": "smoke"})).await?;
/// out.ensure_ok()?; // no function error, and the version under test ran
/// let answer: Value = out.json()?;
/// codedeploy_hooks::ensure!(answer["message"] == "hello smoke");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Invocation {
    pub(crate) invoked: String,
    /// The version that must run; `None` through an alias, where either version may.
    pub(crate) expected_version: Option<String>,
    pub(crate) status_code: i32,
    pub(crate) function_error: Option<String>,
    pub(crate) payload: Vec<u8>,
    pub(crate) executed_version: Option<String>,
    pub(crate) log_tail: Option<String>,
    pub(crate) latency: Duration,
}

impl Invocation {
    /// The HTTP status of the Invoke call: 200 for a synchronous call, even when the
    /// function failed.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     codedeploy_hooks::ensure!(out.status_code() == 200);
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn status_code(&self) -> i32 {
        self.status_code
    }

    /// `Unhandled` or `Handled` when the function failed.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     codedeploy_hooks::ensure!(out.function_error().is_none(), "{}", out.text());
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn function_error(&self) -> Option<&str> {
        self.function_error.as_deref()
    }

    /// The response payload as bytes.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     codedeploy_hooks::ensure!(!out.payload().is_empty());
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The response payload as text (invalid UTF-8 replaced).
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     codedeploy_hooks::ensure!(out.text().contains("hello"));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.payload)
    }

    /// The response payload parsed as JSON into `T`.
    ///
    /// # Errors
    /// [`Error::Payload`] when the payload is not JSON of that shape.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({"name": "Ada"})).await?;
    ///     let body: serde_json::Value = out.json()?;
    ///     codedeploy_hooks::ensure!(body["message"] == "hello Ada");
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.payload).map_err(|source| Error::Payload {
            what: format!("response of {} ({})", self.invoked, shorten(&self.text())),
            source,
        })
    }

    /// The version that ran, from `X-Amz-Executed-Version`.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     codedeploy_hooks::ensure!(out.executed_version() == Some(t.deployment().target_version.as_str()));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn executed_version(&self) -> Option<&str> {
        self.executed_version.as_deref()
    }

    /// The last 4 KB of the function's log for this invocation, decoded.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     if let Some(tail) = out.log_tail() {
    ///         println!("{tail}");
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn log_tail(&self) -> Option<&str> {
        self.log_tail.as_deref()
    }

    /// The time from sending the request to reading the whole response.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     codedeploy_hooks::ensure!(out.latency() < std::time::Duration::from_millis(500));
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn latency(&self) -> Duration {
        self.latency
    }

    /// Whether the call succeeded, the function did not fail, and the target version ran.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     let out = t.invoke(serde_json::json!({})).await?;
    ///     if !out.is_ok() {
    ///         println!("failed: {}", out.text());
    ///     }
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn is_ok(&self) -> bool {
        self.problem().is_none()
    }

    /// Fail unless the call succeeded, the function did not fail, and the version that ran
    /// is the target version. Returns `self` so calls chain.
    ///
    /// # Errors
    /// An assertion failure that quotes the function's error and the tail of its log.
    ///
    /// ```no_run
    /// let hook = codedeploy_hooks::Hook::new().check("example", |t| async move {
    ///     // A function error, or another version than the one under test, fails the check.
    ///     t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///     Ok(())
    /// });
    /// # let _ = hook;
    /// ```
    pub fn ensure_ok(&self) -> Result<&Self, CheckError> {
        match self.problem() {
            None => Ok(self),
            Some(problem) => Err(CheckError::assertion(problem)),
        }
    }

    fn problem(&self) -> Option<String> {
        let logs = || match &self.log_tail {
            Some(tail) if !tail.trim().is_empty() => {
                format!("; log tail: {}", shorten(tail.trim_end()))
            }
            _ => String::new(),
        };
        if let Some(kind) = &self.function_error {
            return Some(format!(
                "{} failed ({kind} function error): {}{}",
                self.invoked,
                shorten(&self.text()),
                logs()
            ));
        }
        if !(200..300).contains(&self.status_code) {
            return Some(format!(
                "{} answered with status {}{}",
                self.invoked,
                self.status_code,
                logs()
            ));
        }
        let expected = self.expected_version.as_deref()?;
        match self.executed_version.as_deref() {
            Some(v) if v == expected => None,
            other => Some(format!(
                "{} ran version {} instead of the target version {expected}: the check did not test the new code",
                self.invoked,
                other.unwrap_or("(not reported)"),
            )),
        }
    }
}

/// At most [`SHOWN_BYTES`] of a text, cut on a character boundary.
pub(crate) fn shorten(text: &str) -> Cow<'_, str> {
    if text.len() <= SHOWN_BYTES {
        return Cow::Borrowed(text);
    }
    let mut end = SHOWN_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}… ({} bytes in all)", &text[..end], text.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(
        function_error: Option<&str>,
        executed: Option<&str>,
        payload: &str,
    ) -> Invocation {
        Invocation {
            invoked: "hello:4".into(),
            expected_version: Some("4".into()),
            status_code: 200,
            function_error: function_error.map(str::to_owned),
            payload: payload.as_bytes().to_vec(),
            executed_version: executed.map(str::to_owned),
            log_tail: Some("START RequestId: 1\nboom\n".into()),
            latency: Duration::from_millis(3),
        }
    }

    #[test]
    fn ok_needs_no_function_error_and_the_target_version() {
        assert!(invocation(None, Some("4"), "{}").ensure_ok().is_ok());
        let err = invocation(Some("Unhandled"), Some("4"), r#"{"errorMessage":"boom"}"#)
            .ensure_ok()
            .unwrap_err();
        assert!(err.message().contains("Unhandled function error"), "{err}");
        assert!(err.message().contains("boom"), "{err}");
        let err = invocation(None, Some("3"), "{}").ensure_ok().unwrap_err();
        assert!(
            err.message()
                .contains("ran version 3 instead of the target version 4"),
            "{err}"
        );
        assert!(invocation(None, None, "{}").ensure_ok().is_err());
    }

    #[test]
    fn long_payloads_are_shortened_in_messages() {
        let long = "é".repeat(1000);
        let shown = shorten(&long);
        assert!(shown.len() < 600);
        assert!(shown.ends_with("(2000 bytes in all)"));
        let err = invocation(None, Some("4"), &long)
            .json::<u32>()
            .unwrap_err();
        assert!(err.to_string().len() < 700);
    }
}
