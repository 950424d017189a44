//! The entry point: serve Lambda events inside Lambda, or be a command-line tool outside.

use tracing::error;

use crate::clients::Clients;
use crate::hook::{Hook, Settings};

impl Hook {
    /// Run the hook: inside Lambda (`AWS_LAMBDA_RUNTIME_API` set) serve CodeDeploy events
    /// until the runtime stops; anywhere else, run as a command-line tool (see `--help`).
    ///
    /// Returns the process exit code: 0 when all checks pass, 1 when one fails, 2 on bad
    /// usage or setup.
    ///
    /// ```no_run
    /// #[tokio::main]
    /// async fn main() -> std::process::ExitCode {
    ///     codedeploy_hooks::Hook::new()
    ///         .check("answers", |t| async move {
    ///             t.invoke(serde_json::json!({})).await?.ensure_ok()?;
    ///             Ok(())
    ///         })
    ///         .run()
    ///         .await
    /// }
    /// ```
    pub async fn run(self) -> std::process::ExitCode {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            self.run_lambda().await
        } else {
            crate::cli::run(self).await
        }
    }

    async fn run_lambda(self) -> std::process::ExitCode {
        crate::logging::init_lambda();
        let settings = Settings::from_env();
        let service = self.into_service_with(Clients::from_env().await, settings);
        match lambda_runtime::run(service).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                error!(error = %err, "the Lambda runtime stopped");
                std::process::ExitCode::FAILURE
            }
        }
    }
}
