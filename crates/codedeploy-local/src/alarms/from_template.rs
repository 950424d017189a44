//! An alarm from an `AWS::CloudWatch::Alarm` of the template, intrinsics resolved; what it
//! cannot evaluate is an error naming the property.

use std::time::Duration;

use super::{Alarm, Comparison, Metric};
use crate::cloudwatch::Stat;
use crate::error::Error;
use crate::sam::template::{AlarmProperties, Expr, Resolver};

/// The alarm's properties, read one by one.
struct Props<'a> {
    name: &'a str,
    props: &'a AlarmProperties,
    resolver: &'a Resolver,
}

impl Props<'_> {
    fn unsupported(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::UnsupportedAlarm {
            alarm: self.name.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn text(&self, field: &str, value: Option<&Expr>) -> Result<Option<String>, Error> {
        value
            .map(|v| {
                self.resolver
                    .string(v)
                    .map_err(|r| self.unsupported(field, r.to_string()))
            })
            .transpose()
    }

    fn number(
        &self,
        field: &str,
        value: Option<&Expr>,
        default: Option<f64>,
    ) -> Result<f64, Error> {
        match self.text(field, value)? {
            Some(t) => t
                .parse()
                .map_err(|_| self.unsupported(field, format!("`{t}` is not a number"))),
            None => default.ok_or_else(|| self.unsupported(field, "is missing")),
        }
    }

    fn metric(&self) -> Result<Metric, Error> {
        if self.props.metrics.is_some() {
            return Err(self.unsupported("Metrics", "(metric math) is not evaluated"));
        }
        match self
            .text("Namespace", self.props.namespace.as_ref())?
            .as_deref()
        {
            Some("AWS/Lambda") => {}
            other => {
                return Err(self.unsupported("Namespace", format!("{other:?} is not AWS/Lambda")))
            }
        }
        Ok(
            match self
                .text("MetricName", self.props.metric_name.as_ref())?
                .as_deref()
            {
                Some("Errors") => Metric::Errors,
                Some("Invocations") => Metric::Invocations,
                Some("Throttles") => Metric::Throttles,
                Some("Duration") => Metric::Duration,
                other => {
                    return Err(
                        self.unsupported("MetricName", format!("{other:?} is not evaluated"))
                    )
                }
            },
        )
    }

    /// `Statistic` (not a percentile) or `ExtendedStatistic` (a percentile such as `p99`),
    /// parsed as `GetMetricData`'s `Stat` is.
    fn statistic(&self) -> Result<Stat, Error> {
        match (
            self.text("Statistic", self.props.statistic.as_ref())?,
            self.text("ExtendedStatistic", self.props.extended_statistic.as_ref())?,
        ) {
            (Some(s), None) => match Stat::parse(&s) {
                Some(stat) if !matches!(stat, Stat::Percentile(_)) => Ok(stat),
                _ => Err(self.unsupported("Statistic", format!("`{s}` is not a statistic"))),
            },
            (None, Some(p)) => match Stat::parse(&p) {
                Some(stat @ Stat::Percentile(_)) => Ok(stat),
                _ => Err(self.unsupported(
                    "ExtendedStatistic",
                    format!("`{p}` is not a percentile like p99"),
                )),
            },
            _ => Err(self.unsupported(
                "Statistic",
                "needs exactly one of Statistic and ExtendedStatistic",
            )),
        }
    }

    fn comparison(&self) -> Result<Comparison, Error> {
        Ok(
            match self
                .text(
                    "ComparisonOperator",
                    self.props.comparison_operator.as_ref(),
                )?
                .as_deref()
            {
                Some("GreaterThanThreshold") => Comparison::GreaterThan,
                Some("GreaterThanOrEqualToThreshold") => Comparison::GreaterOrEqual,
                Some("LessThanThreshold") => Comparison::LessThan,
                Some("LessThanOrEqualToThreshold") => Comparison::LessOrEqual,
                other => {
                    return Err(self
                        .unsupported("ComparisonOperator", format!("{other:?} is not evaluated")))
                }
            },
        )
    }

    fn missing_breaches(&self) -> Result<bool, Error> {
        match self
            .text("TreatMissingData", self.props.treat_missing_data.as_ref())?
            .as_deref()
        {
            None | Some("missing" | "notBreaching" | "ignore") => Ok(false),
            Some("breaching") => Ok(true),
            Some(other) => {
                Err(self.unsupported("TreatMissingData", format!("`{other}` is not known")))
            }
        }
    }

    /// `(FunctionName, Resource, ExecutedVersion)` dimensions.
    fn dimensions(&self) -> Result<[Option<String>; 3], Error> {
        let mut found: [Option<String>; 3] = Default::default();
        for dimension in &self.props.dimensions {
            let value = self
                .resolver
                .string(&dimension.value)
                .map_err(|r| self.unsupported("Dimensions", r.to_string()))?;
            let slot = match dimension.name.as_str() {
                "FunctionName" => 0,
                "Resource" => 1,
                "ExecutedVersion" => 2,
                other => {
                    return Err(self.unsupported(
                        "Dimensions",
                        format!("`{other}` is not FunctionName, Resource or ExecutedVersion"),
                    ))
                }
            };
            found[slot] = Some(value);
        }
        Ok(found)
    }
}

impl Alarm {
    /// Read an `AWS::CloudWatch::Alarm`'s properties, resolving intrinsics.
    ///
    /// # Errors
    /// [`Error::UnsupportedAlarm`] naming the alarm and the field it cannot evaluate.
    pub fn from_template(
        name: &str,
        props: &AlarmProperties,
        resolver: &Resolver,
    ) -> Result<Alarm, Error> {
        let p = Props {
            name,
            props,
            resolver,
        };
        let (metric, statistic, comparison) = (p.metric()?, p.statistic()?, p.comparison()?);
        let [function, resource, executed_version] = p.dimensions()?;
        let period = p.number("Period", props.period.as_ref(), None)?;
        if period < 1.0 {
            return Err(p.unsupported("Period", "must be at least 1 second"));
        }
        let evaluation_periods =
            p.number("EvaluationPeriods", props.evaluation_periods.as_ref(), None)? as u32;
        let datapoints = p.number(
            "DatapointsToAlarm",
            props.datapoints_to_alarm.as_ref(),
            Some(f64::from(evaluation_periods)),
        )?;
        Ok(Alarm {
            name: name.to_owned(),
            metric,
            statistic,
            period: Duration::from_secs_f64(period),
            evaluation_periods: evaluation_periods.max(1),
            datapoints_to_alarm: (datapoints as u32).max(1),
            threshold: p.number("Threshold", props.threshold.as_ref(), None)?,
            comparison,
            missing_breaches: p.missing_breaches()?,
            function,
            resource,
            executed_version,
        })
    }
}
