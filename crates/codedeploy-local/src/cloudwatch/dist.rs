//! A distribution of a metric's values in one second, and the statistics CloudWatch
//! computes from it.

/// How wide a percentile bin is: values within 1% of each other share one, so a second of
/// any number of invocations keeps a few hundred bins at most.
const BIN_BASE: f64 = 1.01;
/// The bin of zero and negative values (their percentile is the minimum).
const NON_POSITIVE: i32 = i32::MIN;

/// Count, sum, minimum, maximum, and counts per 1% bin for percentiles.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Dist {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// `(bin, count)`, sorted by bin.
    bins: Vec<(i32, u64)>,
}

impl Dist {
    /// Add `value`, `times` times.
    pub(crate) fn add(&mut self, value: f64, times: u64) {
        if !value.is_finite() || times == 0 {
            return;
        }
        if self.count == 0 {
            (self.min, self.max) = (value, value);
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += times;
        self.sum += value * times as f64;
        let bin = bin_of(value);
        match self.bins.binary_search_by_key(&bin, |(b, _)| *b) {
            Ok(i) => self.bins[i].1 += times,
            Err(i) => self.bins.insert(i, (bin, times)),
        }
    }

    /// Merge another second's (or series') distribution into this one.
    pub(crate) fn merge(&mut self, other: &Dist) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.count += other.count;
        self.sum += other.sum;
        for &(bin, n) in &other.bins {
            match self.bins.binary_search_by_key(&bin, |(b, _)| *b) {
                Ok(i) => self.bins[i].1 += n,
                Err(i) => self.bins.insert(i, (bin, n)),
            }
        }
    }

    /// The statistic, or `None` without samples (CloudWatch then returns no data point).
    pub(crate) fn statistic(&self, stat: Stat) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        Some(match stat {
            Stat::SampleCount => self.count as f64,
            Stat::Sum => self.sum,
            Stat::Average => self.sum / self.count as f64,
            Stat::Minimum => self.min,
            Stat::Maximum => self.max,
            Stat::Percentile(p) => self.percentile(p),
        })
    }

    /// The value at rank ceil(p% of the samples), to within a bin, inside [min, max].
    fn percentile(&self, p: f64) -> f64 {
        let rank = ((p / 100.0) * self.count as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for &(bin, n) in &self.bins {
            seen += n;
            if seen >= rank {
                let value = if bin == NON_POSITIVE {
                    self.min
                } else {
                    BIN_BASE.powi(bin)
                };
                return value.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

fn bin_of(value: f64) -> i32 {
    if value <= 0.0 {
        NON_POSITIVE
    } else {
        (value.ln() / BIN_BASE.ln()).round() as i32
    }
}

/// A statistic of `GetMetricData`'s `MetricStat.Stat`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Stat {
    SampleCount,
    Sum,
    Average,
    Minimum,
    Maximum,
    /// `p99`, `p99.9`: a percentile.
    Percentile(f64),
}

impl Stat {
    /// The statistic `name` names, or `None` for one the stand-in does not compute
    /// (trimmed means, `IQM`, ...).
    pub(crate) fn parse(name: &str) -> Option<Stat> {
        Some(match name {
            "SampleCount" => Stat::SampleCount,
            "Sum" => Stat::Sum,
            "Average" => Stat::Average,
            "Minimum" => Stat::Minimum,
            "Maximum" => Stat::Maximum,
            _ => {
                let p: f64 = name.strip_prefix('p')?.parse().ok()?;
                if !(0.0..=100.0).contains(&p) {
                    return None;
                }
                Stat::Percentile(p)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_follow_cloudwatch_and_percentiles_are_within_a_percent() {
        let mut d = Dist::default();
        assert_eq!(d.statistic(Stat::Sum), None, "no samples, no data point");
        for ms in 1..=100 {
            d.add(f64::from(ms), 1);
        }
        assert_eq!(d.statistic(Stat::SampleCount), Some(100.0));
        assert_eq!(d.statistic(Stat::Sum), Some(5050.0));
        assert_eq!(d.statistic(Stat::Average), Some(50.5));
        assert_eq!(d.statistic(Stat::Minimum), Some(1.0));
        assert_eq!(d.statistic(Stat::Maximum), Some(100.0));
        let p99 = d.statistic(Stat::Percentile(99.0)).unwrap();
        assert!(
            (p99 - 99.0).abs() <= 99.0 * 0.005,
            "within half a bin: {p99}"
        );
        assert_eq!(d.statistic(Stat::Percentile(100.0)), Some(100.0));
        // Errors: 0s and 1s.
        let mut errors = Dist::default();
        errors.add(0.0, 97);
        errors.add(1.0, 3);
        assert_eq!(errors.statistic(Stat::Sum), Some(3.0));
        assert_eq!(errors.statistic(Stat::Percentile(97.0)), Some(0.0));
        assert_eq!(errors.statistic(Stat::Percentile(98.0)), Some(1.0));
        let mut merged = Dist::default();
        merged.merge(&d);
        merged.merge(&errors);
        assert_eq!(merged.statistic(Stat::SampleCount), Some(200.0));
        assert_eq!(merged.statistic(Stat::Minimum), Some(0.0));
    }

    #[test]
    fn stats_are_parsed_as_the_api_names_them() {
        assert_eq!(Stat::parse("p99"), Some(Stat::Percentile(99.0)));
        assert_eq!(Stat::parse("p99.9"), Some(Stat::Percentile(99.9)));
        assert_eq!(Stat::parse("Sum"), Some(Stat::Sum));
        for unknown in ["tm99", "IQM", "p101", "sum", ""] {
            assert_eq!(Stat::parse(unknown), None, "{unknown}");
        }
    }
}
