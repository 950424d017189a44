//! Deployment configurations: how traffic moves, step by step.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;

/// How CodeDeploy shifts traffic from the current to the target version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum TrafficConfig {
    /// Everything at once.
    AllAtOnce,
    /// `percent` first, the rest after `minutes`.
    Canary {
        /// The first step's share.
        percent: u32,
        /// Minutes until the rest.
        minutes: u32,
    },
    /// `percent` more every `minutes` until all.
    Linear {
        /// Each step's share.
        percent: u32,
        /// Minutes between steps.
        minutes: u32,
    },
}

/// One change of the alias: at `after` (deployment time, unscaled) the target gets `percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Deployment time of the step, from the start of the shift.
    pub after: Duration,
    /// The target version's share, 0-100.
    pub percent: u32,
}

/// The predefined Lambda deployment configurations, after `CodeDeployDefault.Lambda`.
pub(crate) const PREDEFINED: [&str; 9] = [
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
    "AllAtOnce",
];

impl TrafficConfig {
    /// Its name as the CodeDeploy API gives it, e.g. `CodeDeployDefault.LambdaAllAtOnce`.
    pub(crate) fn api_name(&self) -> String {
        format!("CodeDeployDefault.Lambda{self}")
    }

    /// A deployment configuration as the CodeDeploy API names it: one of the predefined
    /// `CodeDeployDefault.Lambda*` (the stand-in has no custom ones: no
    /// CreateDeploymentConfig).
    pub(crate) fn predefined(name: &str) -> Option<TrafficConfig> {
        let short = name.strip_prefix("CodeDeployDefault.Lambda")?;
        PREDEFINED
            .contains(&short)
            .then(|| short.parse().ok())
            .flatten()
    }

    /// The shift, step by step; the last step is 100 %.
    pub fn steps(&self) -> Vec<Step> {
        let minute = Duration::from_secs(60);
        match *self {
            TrafficConfig::AllAtOnce => vec![Step {
                after: Duration::ZERO,
                percent: 100,
            }],
            TrafficConfig::Canary { percent, minutes } => vec![
                Step {
                    after: Duration::ZERO,
                    percent,
                },
                Step {
                    after: minute * minutes,
                    percent: 100,
                },
            ],
            TrafficConfig::Linear { percent, minutes } => {
                let mut steps = Vec::new();
                let mut share = 0;
                let mut k = 0;
                while share < 100 {
                    share = (share + percent).min(100);
                    steps.push(Step {
                        after: minute * minutes * k,
                        percent: share,
                    });
                    k += 1;
                }
                steps
            }
        }
    }
}

impl FromStr for TrafficConfig {
    type Err = Error;

    /// `Canary10Percent5Minutes`, `CodeDeployDefault.LambdaLinear10PercentEvery1Minute`,
    /// `AllAtOnce`, or a custom `Canary25Percent2Minutes` / `Linear20PercentEvery3Minutes`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = |why: &'static str| Error::DeploymentType {
            name: text.to_owned(),
            why,
        };
        let name = text.trim();
        let name = name.strip_prefix("CodeDeployDefault.").unwrap_or(name);
        let name = name.strip_prefix("Lambda").unwrap_or(name);
        if name == "AllAtOnce" {
            return Ok(TrafficConfig::AllAtOnce);
        }
        let (linear, rest) = if let Some(rest) = name.strip_prefix("Canary") {
            (false, rest)
        } else if let Some(rest) = name.strip_prefix("Linear") {
            (true, rest)
        } else {
            return Err(invalid("is not a known kind"));
        };
        let (percent, rest) = rest
            .split_once("Percent")
            .ok_or_else(|| invalid("names no percentage"))?;
        let rest = if linear {
            rest.strip_prefix("Every")
                .ok_or_else(|| invalid("needs `Every` after the percentage"))?
        } else {
            rest
        };
        let minutes = rest
            .strip_suffix("Minutes")
            .or_else(|| rest.strip_suffix("Minute"))
            .ok_or_else(|| invalid("names no interval in minutes"))?;
        let percent: u32 = percent
            .parse()
            .map_err(|_| invalid("has no whole percentage"))?;
        let minutes: u32 = minutes
            .parse()
            .map_err(|_| invalid("has no whole number of minutes"))?;
        if !(1..=99).contains(&percent) {
            return Err(invalid("shifts a percentage outside 1-99"));
        }
        let total = if linear {
            minutes.saturating_mul(100u32.div_ceil(percent) - 1)
        } else {
            minutes
        };
        if minutes == 0 || total > 2880 {
            return Err(invalid(
                "needs 1 to 2,880 minutes between the first and the last shift",
            ));
        }
        Ok(if linear {
            TrafficConfig::Linear { percent, minutes }
        } else {
            TrafficConfig::Canary { percent, minutes }
        })
    }
}

impl fmt::Display for TrafficConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrafficConfig::AllAtOnce => write!(f, "AllAtOnce"),
            TrafficConfig::Canary { percent, minutes } => {
                write!(
                    f,
                    "Canary{percent}Percent{minutes}Minute{}",
                    if *minutes == 1 { "" } else { "s" }
                )
            }
            TrafficConfig::Linear { percent, minutes } => {
                write!(
                    f,
                    "Linear{percent}PercentEvery{minutes}Minute{}",
                    if *minutes == 1 { "" } else { "s" }
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_predefined_configurations_parse_and_print_back() {
        for name in PREDEFINED {
            let config: TrafficConfig = name.parse().unwrap();
            assert_eq!(config.to_string(), name);
            let long: TrafficConfig = format!("CodeDeployDefault.Lambda{name}").parse().unwrap();
            assert_eq!(long, config);
            assert_eq!(
                TrafficConfig::predefined(&format!("CodeDeployDefault.Lambda{name}")),
                Some(config)
            );
            assert_eq!(
                TrafficConfig::predefined(name),
                None,
                "the API wants the full name"
            );
        }
        assert_eq!(
            TrafficConfig::predefined("CodeDeployDefault.LambdaCanary25Percent5Minutes"),
            None
        );
    }

    #[test]
    fn steps_follow_the_configuration() {
        let minute = Duration::from_secs(60);
        let canary: TrafficConfig = "Canary10Percent5Minutes".parse().unwrap();
        assert_eq!(
            canary.steps(),
            [
                Step {
                    after: Duration::ZERO,
                    percent: 10
                },
                Step {
                    after: minute * 5,
                    percent: 100
                }
            ]
        );
        let linear: TrafficConfig = "Linear10PercentEvery1Minute".parse().unwrap();
        let steps = linear.steps();
        assert_eq!(steps.len(), 10);
        assert_eq!(
            steps[9],
            Step {
                after: minute * 9,
                percent: 100
            }
        );
        let uneven: TrafficConfig = "Linear30PercentEvery2Minutes".parse().unwrap();
        let shares: Vec<u32> = uneven.steps().iter().map(|s| s.percent).collect();
        assert_eq!(shares, [30, 60, 90, 100]);
    }

    #[test]
    fn bad_configurations_are_explained() {
        for bad in [
            "Canary0Percent5Minutes",
            "Canary10Percent",
            "Blue",
            "Linear10Percent1Minute",
            "Canary10Percent3000Minutes",
        ] {
            let err = bad.parse::<TrafficConfig>().unwrap_err().to_string();
            assert!(
                err.contains(bad) && err.contains("Canary10Percent5Minutes"),
                "{err}"
            );
        }
    }
}
