//! A small seeded PRNG (SplitMix64) and unique names: no `rand` needed for a load generator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next_u64() % (n.max(1) as u64)).unwrap_or(0)
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn process_salt() -> u64 {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SALT.get_or_init(|| {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        Rng::new((nanos as u64) ^ (u64::from(std::process::id()) << 32)).next_u64()
    })
}

/// 32 hex digits, unique within and (with overwhelming probability) across runs.
pub fn unique_hex() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::new(process_salt() ^ n.wrapping_mul(0xD6E8_FEB8_6659_FD93));
    format!("{:016x}{:016x}", rng.next_u64(), process_salt().wrapping_add(n))
}

/// `bench-<uuid-ish>@example.com`.
pub fn unique_user_name() -> String {
    let hex = unique_hex();
    format!("bench-{}-{}-{}-{}-{}@example.com", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}
