//! The stand-in's one clock. Time is tokio's ([`tokio::time::Instant`]), so a test that
//! pauses tokio's clock stops the stand-in's; the wall time the APIs and metrics show
//! ([`WallClock`]) is read off it. Deployment time runs `time_scale` times faster than real
//! time, and every conversion between the two goes through here, so a scale of any value
//! (zero, negative, NaN, huge) gives a duration, never a panic (`Duration::div_f64` panics
//! when the result does not fit).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Wall time on tokio's clock: the system time when the stand-in started, plus tokio's time
/// since. Invocation records, metrics, alarms and deployments' times all read it, so on a
/// paused clock an alarm's periods pass as the test advances time, not as the machine does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WallClock {
    started: Instant,
    started_at: SystemTime,
}

impl WallClock {
    /// A clock that reads the system's time now.
    pub(crate) fn start() -> WallClock {
        WallClock {
            started: Instant::now(),
            started_at: SystemTime::now(),
        }
    }

    /// The time now.
    pub(crate) fn now(&self) -> SystemTime {
        self.started_at + self.started.elapsed()
    }
}

/// The slowest and fastest clocks the stand-in runs: a thousandth of real time up to a
/// million times faster. Scales outside are clamped to these.
pub const TIME_SCALES: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

fn clamp(time_scale: f64) -> f64 {
    if time_scale.is_nan() {
        1.0
    } else {
        time_scale.clamp(*TIME_SCALES.start(), *TIME_SCALES.end())
    }
}

/// How long `deployment_time` lasts in real time.
pub(crate) fn to_real(deployment_time: Duration, time_scale: f64) -> Duration {
    Duration::try_from_secs_f64(deployment_time.as_secs_f64() / clamp(time_scale))
        .unwrap_or(Duration::MAX)
}

/// How much deployment time `real` is.
pub(crate) fn to_deployment(real: Duration, time_scale: f64) -> Duration {
    Duration::try_from_secs_f64(real.as_secs_f64() * clamp(time_scale)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_time_follows_tokios_clock() {
        let clock = WallClock::start();
        let before = clock.now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            clock.now().duration_since(before).ok(),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn any_scale_gives_a_duration() {
        let minute = Duration::from_secs(60);
        assert_eq!(to_real(minute, 60.0), Duration::from_secs(1));
        assert_eq!(to_deployment(Duration::from_secs(1), 60.0), minute);
        for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE, 1e300] {
            let _ = to_real(Duration::MAX, scale);
            let _ = to_deployment(Duration::MAX, scale);
        }
        assert_eq!(to_real(minute, 0.0), Duration::from_secs(60_000));
    }
}
