//! How long a remote sleeps before its next dial.
//!
//! Two policies, chosen per remote:
//! - **Fixed interval** (`leafnodes.reconnect`, default 1 s): what nats-server 2.9 does, and
//!   what an operator who never asked for backoff expects to see in the log.
//! - **Exponential backoff** (`backoff { min, max }`): the delay doubles with every
//!   consecutive failed session, from `min`, capped at `max`, with "equal jitter": half of
//!   the delay is fixed and half is drawn uniformly from the caller's seeded RNG. The fixed
//!   half keeps a flapping hub from being hammered; the random half keeps a fleet of leafs
//!   that lost the same hub from reconnecting in lockstep.
//!
//! Closes the hub asked for because of a loop or a permission violation wait
//! [`ERROR_DELAY`] whatever the policy: redialing sooner only repeats the same rejection
//! (nats-server logs "Delaying attempt to reconnect for 30s" for the same reason).

use rand::Rng;

use crate::config::Backoff;
use crate::time::Duration;

/// Delay after a loop-detected, permission-violation or same-cluster-name close.
pub const ERROR_DELAY: Duration = Duration::from_secs(30);

/// The delay before the next dial of a remote.
///
/// `failures` counts consecutive sessions that ended without a completed PING/PONG round
/// trip, including the one that just ended; 0 means the session that just ended was healthy.
pub fn reconnect_delay<R: Rng + ?Sized>(
    interval: Duration,
    backoff: Option<Backoff>,
    failures: u32,
    rng: &mut R,
) -> Duration {
    let Some(bounds) = backoff else {
        return interval;
    };
    let base = backoff_base(bounds, failures);
    let fixed = base / 2;
    let spread = base - fixed;
    let spread_nanos = u64::try_from(spread.as_nanos()).unwrap_or(u64::MAX);
    fixed + Duration::from_nanos(rng.gen_range(0..=spread_nanos))
}

/// `min * 2^(failures-1)`, capped at `max` (a healthy session restarts at `min`).
fn backoff_base(bounds: Backoff, failures: u32) -> Duration {
    // A config with max < min is rejected by validation; be defensive rather than panic.
    let max = bounds.max.max(bounds.min);
    let doublings = failures.saturating_sub(1);
    if doublings >= 32 {
        return max;
    }
    bounds
        .min
        .checked_mul(1u32 << doublings)
        .map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const MIN: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);
    const BOUNDS: Backoff = Backoff { min: MIN, max: MAX };

    #[test]
    fn fixed_interval_ignores_failures() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for failures in [0, 1, 7, u32::MAX] {
            let d = reconnect_delay(Duration::from_secs(1), None, failures, &mut rng);
            assert_eq!(d, Duration::from_secs(1));
        }
    }

    #[test]
    fn base_doubles_from_min_and_caps_at_max() {
        assert_eq!(backoff_base(BOUNDS, 0), MIN);
        assert_eq!(backoff_base(BOUNDS, 1), MIN);
        assert_eq!(backoff_base(BOUNDS, 2), MIN * 2);
        assert_eq!(backoff_base(BOUNDS, 3), MIN * 4);
        assert_eq!(backoff_base(BOUNDS, 6), MIN * 32);
        assert_eq!(backoff_base(BOUNDS, 7), MAX);
        assert_eq!(backoff_base(BOUNDS, 40), MAX);
        assert_eq!(backoff_base(BOUNDS, u32::MAX), MAX);
        let inverted = Backoff { min: MAX, max: MIN };
        assert_eq!(backoff_base(inverted, 3), MAX);
    }

    #[test]
    fn equal_jitter_stays_within_half_and_full_base() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for failures in 0..12u32 {
            let base = backoff_base(BOUNDS, failures);
            let mut seen_low_half = false;
            let mut seen_high_half = false;
            for _ in 0..200 {
                let d = reconnect_delay(Duration::from_secs(1), Some(BOUNDS), failures, &mut rng);
                assert!(
                    d >= base / 2 && d <= base,
                    "{d:?} outside [{:?}, {base:?}]",
                    base / 2
                );
                if d < base * 3 / 4 {
                    seen_low_half = true;
                } else {
                    seen_high_half = true;
                }
            }
            // The jitter really is spread over the range, not stuck at one end.
            assert!(
                seen_low_half && seen_high_half,
                "jitter not spread for {failures}"
            );
        }
    }

    #[test]
    fn same_seed_same_delays() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (1..10)
                .map(|f| reconnect_delay(Duration::ZERO, Some(BOUNDS), f, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
