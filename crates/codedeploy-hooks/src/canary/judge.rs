//! The statistics of the analysis, as pure functions: a one-sided exact test for rates and a
//! bounded ratio for latency and custom metrics. No I/O, so the known answers are unit tests.

use statrs::stats_tests::{fishers_exact, Alternative};

use super::report::Verdict;

/// Counts of one version: how many requests, and how many of them were bad (errors or
/// throttles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) bad: u64,
    pub(crate) total: u64,
}

impl Counts {
    pub(crate) fn rate(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.bad as f64 / self.total as f64
        }
    }
}

/// How rates are judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateRule {
    pub(crate) significance: f64,
    pub(crate) min_effect: f64,
    pub(crate) min_samples: u64,
}

/// The judgement of one rate: the verdict, the p-value when the test ran, and why.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RateJudgement {
    pub(crate) verdict: Verdict,
    pub(crate) p_value: Option<f64>,
    pub(crate) why: String,
}

/// Is the new version's rate worse than the current one's?
///
/// Fisher's exact test, one-sided (the new version worse), on the 2x2 table of bad and good
/// requests per version. It is exact at any sample size and conservative (it fails a good
/// canary at most as often as the significance says). A significant difference smaller than
/// `min_effect` (absolute, e.g. 0.005 = half a percentage point) passes: with enough traffic
/// any difference is significant, and not every difference matters. Fewer than `min_samples`
/// requests on either side is inconclusive, never a pass.
pub(crate) fn judge_rate(current: Counts, new: Counts, rule: &RateRule) -> RateJudgement {
    let rates = format!(
        "{} of {} ({}) now vs {} of {} ({}) on the new version",
        current.bad,
        current.total,
        percent(current.rate()),
        new.bad,
        new.total,
        percent(new.rate())
    );
    let fewest = current.total.min(new.total);
    if fewest < rule.min_samples {
        return RateJudgement {
            verdict: Verdict::Inconclusive,
            p_value: None,
            why: format!(
                "{rates}: too few requests to judge ({fewest} < {} on one side)",
                rule.min_samples
            ),
        };
    }
    let table = [
        new.bad,
        new.total.saturating_sub(new.bad),
        current.bad,
        current.total.saturating_sub(current.bad),
    ];
    // Only an over-large table can fail (statrs refuses sums past u64); treat it as no evidence.
    let p = fishers_exact(&table, Alternative::Greater).unwrap_or(1.0);
    let effect = new.rate() - current.rate();
    let (verdict, why) = if p >= rule.significance {
        (
            Verdict::Pass,
            format!("{rates}: p = {} >= {}", p_text(p), rule.significance),
        )
    } else if effect < rule.min_effect {
        (
            Verdict::Pass,
            format!(
                "{rates}: significant (p = {}) but {} worse, under the minimum effect {}",
                p_text(p),
                percent(effect.max(0.0)),
                percent(rule.min_effect)
            ),
        )
    } else {
        (
            Verdict::Fail,
            format!(
                "{rates}: worse by {} (p = {} < {})",
                percent(effect),
                p_text(p),
                rule.significance
            ),
        )
    };
    RateJudgement {
        verdict,
        p_value: Some(p),
        why,
    }
}

/// Which way a metric gets worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Higher is worse (latency, error counts).
    HigherIsWorse,
    /// Lower is worse (e.g. orders placed, cache hits).
    LowerIsWorse,
}

/// How a value (a percentile, an average) is judged: the new version's value against the
/// current one's times `max_ratio`, with an absolute `allowance` so that tiny values do not
/// fail on noise (1 ms against 0.5 ms is twice as slow and does not matter).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RatioRule {
    pub(crate) max_ratio: f64,
    pub(crate) allowance: f64,
    pub(crate) direction: Direction,
    pub(crate) min_samples: u64,
}

/// One version's value and how many samples it stands on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Value {
    pub(crate) value: Option<f64>,
    pub(crate) samples: u64,
}

/// Is the new version's value worse than the current one's beyond the bound?
pub(crate) fn judge_ratio(
    current: Value,
    new: Value,
    rule: &RatioRule,
    unit: &str,
) -> (Verdict, Option<f64>, String) {
    let fewest = current.samples.min(new.samples);
    let (Some(now), Some(next)) = (current.value, new.value) else {
        return (
            Verdict::Inconclusive,
            None,
            "no data for one of the versions".to_owned(),
        );
    };
    let values = format!(
        "{} now vs {} on the new version",
        num(now, unit),
        num(next, unit)
    );
    if fewest < rule.min_samples {
        return (
            Verdict::Inconclusive,
            None,
            format!(
                "{values}: too few samples to judge ({fewest} < {} on one side)",
                rule.min_samples
            ),
        );
    }
    let ratio = if now == 0.0 { None } else { Some(next / now) };
    let (worse, bound) = match rule.direction {
        Direction::HigherIsWorse => {
            let bound = now * rule.max_ratio + rule.allowance;
            (next > bound, bound)
        }
        Direction::LowerIsWorse => {
            let bound = now / rule.max_ratio - rule.allowance;
            (next < bound, bound)
        }
    };
    let ratio_text = ratio.map_or_else(String::new, |r| format!(" (x{r:.2})"));
    let verdict = if worse { Verdict::Fail } else { Verdict::Pass };
    let side = match (worse, rule.direction) {
        (true, Direction::HigherIsWorse) => "above",
        (true, Direction::LowerIsWorse) => "below",
        (false, Direction::HigherIsWorse) => "within",
        (false, Direction::LowerIsWorse) => "within",
    };
    (
        verdict,
        ratio,
        format!(
            "{values}{ratio_text}: {side} the bound {}",
            num(bound, unit)
        ),
    )
}

fn percent(rate: f64) -> String {
    format!("{:.2}%", rate * 100.0)
}

fn p_text(p: f64) -> String {
    if p < 0.0001 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

fn num(value: f64, unit: &str) -> String {
    if unit.is_empty() {
        format!("{value:.3}")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: RateRule = RateRule {
        significance: 0.05,
        min_effect: 0.005,
        min_samples: 5,
    };

    fn counts(bad: u64, total: u64) -> Counts {
        Counts { bad, total }
    }

    #[test]
    fn known_answers_of_the_rate_test() {
        // 1.2% on the new version against 0.1%: fails.
        let worse = judge_rate(counts(10, 10_000), counts(12, 1_000), &RULE);
        assert_eq!(worse.verdict, Verdict::Fail, "{}", worse.why);
        // The same sum from 12 errors of 22: 8.171776975323166e-08.
        assert!(
            (worse.p_value.unwrap() / 8.171_776_975e-8 - 1.0).abs() < 1e-6,
            "{worse:?}"
        );
        assert!(worse.why.contains("10 of 10000 (0.10%)"), "{}", worse.why);
        assert!(worse.why.contains("12 of 1000 (1.20%)"), "{}", worse.why);
        // 0.1% on both: passes.
        let same = judge_rate(counts(10, 10_000), counts(1, 1_000), &RULE);
        assert_eq!(same.verdict, Verdict::Pass, "{}", same.why);
        // P(X >= 1), X hypergeometric (11,000 requests, 11 errors, 1,000 drawn), by exact
        // sums of binomials in Python: 0.6496814207900994.
        assert!(
            (same.p_value.unwrap() - 0.649_681_420_79).abs() < 1e-9,
            "{same:?}"
        );
        // 0 of 5 against 1 of 5: too few to say either way.
        let few = judge_rate(
            counts(0, 5),
            counts(1, 5),
            &RateRule {
                min_samples: 100,
                ..RULE
            },
        );
        assert_eq!(few.verdict, Verdict::Inconclusive, "{}", few.why);
        assert_eq!(few.p_value, None);
        // A new version that is better is never a failure.
        let better = judge_rate(counts(100, 1_000), counts(0, 1_000), &RULE);
        assert_eq!(better.verdict, Verdict::Pass);
    }

    #[test]
    fn a_significant_difference_under_the_minimum_effect_passes() {
        // 1.0% vs 1.3% on a million each: significant, but 0.3 points < 0.5.
        let small = judge_rate(counts(10_000, 1_000_000), counts(13_000, 1_000_000), &RULE);
        assert!(small.p_value.unwrap() < 0.05, "{small:?}");
        assert_eq!(small.verdict, Verdict::Pass, "{}", small.why);
        assert!(
            small.why.contains("under the minimum effect"),
            "{}",
            small.why
        );
    }

    /// 1,000 good canaries (both versions fail 1% of the time) fail about as often as the
    /// significance says, not more: the test is not trigger-happy.
    #[test]
    fn good_canaries_fail_no_more_often_than_the_significance() {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut draw = |n: u64, rate: f64| Counts {
            bad: (0..n).filter(|_| rng.f64() < rate).count() as u64,
            total: n,
        };
        let rule = RateRule {
            min_effect: 0.0,
            ..RULE
        };
        let failed = (0..1_000)
            .filter(|_| {
                let (current, new) = (draw(2_000, 0.01), draw(500, 0.01));
                judge_rate(current, new, &rule).verdict == Verdict::Fail
            })
            .count();
        // Exact tests are conservative: expect at most 5%, with room for chance (sd ~0.7%).
        assert!(
            failed <= 65,
            "{failed} of 1000 good canaries failed at 0.05"
        );
        // And the test has power: 1% against 4% fails nearly always.
        let caught = (0..200)
            .filter(|_| {
                let (current, new) = (draw(2_000, 0.01), draw(500, 0.04));
                judge_rate(current, new, &rule).verdict == Verdict::Fail
            })
            .count();
        assert!(caught >= 190, "caught only {caught} of 200 bad canaries");
    }

    /// What the example's settings (0.01, a minimum effect of two points) do with the
    /// thousand or so calls a side a rehearsal's canary gets: a one-point minimum fails good
    /// releases now and then, two points practically never, and 8% against 1% always.
    #[test]
    fn a_two_point_minimum_effect_spares_good_releases_of_a_thousand_calls() {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut draw = |n: u64, rate: f64| Counts {
            bad: (0..n).filter(|_| rng.f64() < rate).count() as u64,
            total: n,
        };
        let rule = |min_effect| RateRule {
            significance: 0.01,
            min_effect,
            min_samples: 100,
        };
        let (mut one_point, mut two_points) = (0, 0);
        for _ in 0..2_000 {
            let (current, new) = (draw(1_000, 0.01), draw(1_000, 0.01));
            one_point +=
                usize::from(judge_rate(current, new, &rule(0.01)).verdict == Verdict::Fail);
            two_points +=
                usize::from(judge_rate(current, new, &rule(0.02)).verdict == Verdict::Fail);
        }
        assert!(
            one_point > 0,
            "a one-point minimum fails some good releases"
        );
        assert_eq!(
            two_points, 0,
            "two points: none of 2,000 good releases fails"
        );
        for _ in 0..100 {
            let (current, new) = (draw(1_000, 0.01), draw(1_000, 0.08));
            assert_eq!(judge_rate(current, new, &rule(0.02)).verdict, Verdict::Fail);
        }
    }

    #[test]
    fn ratios_fail_beyond_the_bound_and_its_allowance() {
        let rule = RatioRule {
            max_ratio: 1.25,
            allowance: 5.0,
            direction: Direction::HigherIsWorse,
            min_samples: 10,
        };
        let v = |value: f64| Value {
            value: Some(value),
            samples: 100,
        };
        assert_eq!(
            judge_ratio(v(100.0), v(124.0), &rule, "ms").0,
            Verdict::Pass
        );
        let (verdict, ratio, why) = judge_ratio(v(100.0), v(140.0), &rule, "ms");
        assert_eq!(verdict, Verdict::Fail, "{why}");
        assert_eq!(ratio, Some(1.4));
        assert!(why.contains("100.0 ms now vs 140.0 ms"), "{why}");
        // 2 ms against 1 ms is twice as slow, yet within the 5 ms allowance.
        assert_eq!(judge_ratio(v(1.0), v(2.0), &rule, "ms").0, Verdict::Pass);
        let lower = RatioRule {
            direction: Direction::LowerIsWorse,
            allowance: 0.0,
            ..rule
        };
        assert_eq!(judge_ratio(v(100.0), v(70.0), &lower, "").0, Verdict::Fail);
        assert_eq!(judge_ratio(v(100.0), v(130.0), &lower, "").0, Verdict::Pass);
        let few = Value {
            value: Some(1.0),
            samples: 3,
        };
        assert_eq!(
            judge_ratio(few, v(1.0), &rule, "ms").0,
            Verdict::Inconclusive
        );
        let none = Value {
            value: None,
            samples: 0,
        };
        assert_eq!(
            judge_ratio(v(1.0), none, &rule, "ms").0,
            Verdict::Inconclusive
        );
    }
}
