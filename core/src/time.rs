//! Time as the core sees it.
//!
//! The core never reads a clock. Every `handle_*` call receives `now`, an [`Instant`] that is
//! simply the time elapsed since the caller's start (the process start in production, the
//! world start in the simulator). Printing an `Instant` therefore prints a duration since
//! start, which is what makes traces byte-identical across runs of the same seed.
//!
//! Sharp edges:
//! - `Instant` is monotonic only because callers pass monotonic values; the core does not
//!   check (a spurious earlier `now` is treated as "no timer is due yet").
//! - Arithmetic saturates at zero instead of panicking, so a deadline computed from an old
//!   `now` is never negative.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
pub use std::time::Duration;

/// A point in time, measured as the duration since the caller's start.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(Duration);

impl Instant {
    /// The caller's start.
    pub const ZERO: Instant = Instant(Duration::ZERO);

    /// The instant `d` after start.
    pub const fn from_start(d: Duration) -> Self {
        Instant(d)
    }

    /// Time elapsed since start.
    pub const fn since_start(self) -> Duration {
        self.0
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        self.0 = self.0.saturating_add(d);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{:.3}s", self.0.as_secs_f64())
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let a = Instant::from_start(Duration::from_secs(1));
        let b = a + Duration::from_millis(500);
        assert_eq!(b - a, Duration::from_millis(500));
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(format!("{b:?}"), "t+1.500s");
    }
}
