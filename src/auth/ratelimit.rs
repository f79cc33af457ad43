//! Counting failed authentications per client, as Mailu does, so a token cannot be guessed by brute
//! force: past `max_failures` within `window`, the client gets "too many requests" until the window
//! that started with its first failure has passed. IPv6 clients are counted per /64 (one host's
//! usual allocation). Memory is bounded: old entries are dropped when the table grows.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How many distinct clients are tracked before expired entries are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    max_failures: u32,
    window: Duration,
    clients: HashMap<IpAddr, (u32, Instant)>,
}

impl RateLimiter {
    pub fn new(max_failures: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            max_failures,
            window,
            clients: HashMap::new(),
        }
    }

    /// Whether `client` is currently refused.
    pub fn is_limited(&self, client: IpAddr, now: Instant) -> bool {
        match self.clients.get(&key(client)) {
            Some((count, start)) => {
                *count >= self.max_failures && now.duration_since(*start) < self.window
            }
            None => false,
        }
    }

    /// Records one failed authentication by `client`.
    pub fn fail(&mut self, client: IpAddr, now: Instant) {
        if self.clients.len() >= SWEEP_AT {
            let window = self.window;
            self.clients
                .retain(|_, (_, start)| now.duration_since(*start) < window);
        }
        let entry = self.clients.entry(key(client)).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 = entry.0.saturating_add(1);
    }

    /// Total failures currently counted, for metrics.
    pub fn tracked_clients(&self) -> usize {
        self.clients.len()
    }
}

fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut segments = v6.segments();
            for s in &mut segments[4..] {
                *s = 0;
            }
            IpAddr::V6(segments.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_after_max_failures_until_the_window_passes() {
        let mut limiter = RateLimiter::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(!limiter.is_limited(ip, t0));
            limiter.fail(ip, t0);
        }
        assert!(limiter.is_limited(ip, t0 + Duration::from_secs(1)));
        assert!(!limiter.is_limited(other, t0));
        assert!(!limiter.is_limited(ip, t0 + Duration::from_secs(61)));
    }

    #[test]
    fn ipv6_is_counted_per_slash_64() {
        let mut limiter = RateLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        limiter.fail("2001:db8::1".parse().unwrap(), t0);
        assert!(limiter.is_limited("2001:db8::ffff".parse().unwrap(), t0));
        assert!(!limiter.is_limited("2001:db8:0:1::1".parse().unwrap(), t0));
    }
}
