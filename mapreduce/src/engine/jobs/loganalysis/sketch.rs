//! Distinct-count sketch for "distinct clients per bucket": exact while
//! small, HyperLogLog when large.
//!
//! A sketch holds the 64-bit hashes of the values it saw, exactly, up to
//! [`EXACT_MAX`] of them (so every bucket with at most that many distinct
//! clients is counted exactly, barring a 64-bit hash collision); past that
//! it becomes a HyperLogLog with 2^[`P`] one-byte registers (16 KiB,
//! standard error 1.04/√16384 ≈ 0.8 %), estimated with Ertl's improved
//! estimator ("New cardinality estimation algorithms for HyperLogLog
//! sketches", 2017), which needs no empirical bias tables. Sketches merge
//! (union) in the combiner and reducer, so the per-map sketches of a bucket
//! end as one.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;

use super::FxHasher;

/// The exact mode's set (the values are already good hashes).
type HashSetFx = HashSet<u64, BuildHasherDefault<FxHasher>>;

/// Register index bits.
pub const P: u32 = 14;
const M: usize = 1 << P;
/// Exact hashes kept before switching to registers (as many bytes as the
/// registers).
pub const EXACT_MAX: usize = M / 8;

/// The hash of a value (FNV-1a, then SplitMix64's finalizer to spread
/// the bits HyperLogLog reads).
pub fn hash(v: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in v {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sketch {
    Exact(HashSetFx),
    Hll(Box<[u8]>),
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Exact(HashSetFx::default())
    }
}

impl Sketch {
    pub fn insert_hash(&mut self, h: u64) {
        match self {
            Sketch::Exact(set) => {
                set.insert(h);
                if set.len() > EXACT_MAX {
                    let mut regs = vec![0u8; M].into_boxed_slice();
                    for &x in set.iter() {
                        hll_add(&mut regs, x);
                    }
                    *self = Sketch::Hll(regs);
                }
            }
            Sketch::Hll(regs) => hll_add(regs, h),
        }
    }

    pub fn merge(&mut self, other: Sketch) {
        match other {
            Sketch::Exact(set) => set.into_iter().for_each(|h| self.insert_hash(h)),
            Sketch::Hll(theirs) => {
                if let Sketch::Exact(set) = self {
                    let mut regs = theirs;
                    for &x in set.iter() {
                        hll_add(&mut regs, x);
                    }
                    *self = Sketch::Hll(regs);
                } else if let Sketch::Hll(mine) = self {
                    for (a, b) in mine.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    /// Whether [`Self::estimate`] is an exact count.
    pub fn is_exact(&self) -> bool {
        matches!(self, Sketch::Exact(_))
    }

    pub fn estimate(&self) -> u64 {
        match self {
            Sketch::Exact(set) => set.len() as u64,
            Sketch::Hll(regs) => ertl_estimate(regs).round() as u64,
        }
    }

    /// `E` + sorted hashes (LE), or `H` + the registers.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Sketch::Exact(set) => {
                let mut v: Vec<u64> = set.iter().copied().collect();
                v.sort_unstable();
                let mut out = Vec::with_capacity(1 + v.len() * 8);
                out.push(b'E');
                v.iter()
                    .for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
                out
            }
            Sketch::Hll(regs) => {
                let mut out = Vec::with_capacity(1 + M);
                out.push(b'H');
                out.extend_from_slice(regs);
                out
            }
        }
    }

    pub fn from_bytes(b: &[u8]) -> Option<Sketch> {
        match b.split_first()? {
            (b'E', rest) if rest.len() % 8 == 0 => Some(Sketch::Exact(
                rest.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )),
            (b'H', rest) if rest.len() == M => Some(Sketch::Hll(rest.into())),
            _ => None,
        }
    }
}

fn hll_add(regs: &mut [u8], h: u64) {
    let idx = (h >> (64 - P)) as usize;
    let w = h << P;
    let q = 64 - P;
    let rho = (w.leading_zeros().min(q) + 1) as u8;
    if regs[idx] < rho {
        regs[idx] = rho;
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let z_old = z;
        z += x * y;
        y += y;
        if z_old == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let z_old = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z_old == z {
            return z / 3.0;
        }
    }
}

fn ertl_estimate(regs: &[u8]) -> f64 {
    let q = (64 - P) as usize;
    let m = regs.len() as f64;
    let mut c = vec![0u32; q + 2];
    for &r in regs {
        c[r as usize] += 1;
    }
    let mut z = m * tau(1.0 - c[q + 1] as f64 / m);
    for k in (1..=q).rev() {
        z = 0.5 * (z + c[k] as f64);
    }
    z += m * sigma(c[0] as f64 / m);
    let alpha_inf = 1.0 / (2.0 * std::f64::consts::LN_2);
    alpha_inf * m * m / z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_when_small_close_when_large() {
        let mut s = Sketch::default();
        for i in 0..1000 {
            s.insert_hash(hash(format!("10.0.{}.{}", i / 256, i % 256).as_bytes()));
        }
        assert!(s.is_exact());
        assert_eq!(s.estimate(), 1000);
        for n in [5_000u64, 50_000, 400_000] {
            let (mut a, mut b) = (Sketch::default(), Sketch::default());
            for i in 0..n {
                let h = hash(format!("client-{i}").as_bytes());
                if i % 2 == 0 {
                    a.insert_hash(h)
                } else {
                    b.insert_hash(h)
                }
            }
            let a = Sketch::from_bytes(&a.to_bytes()).unwrap();
            let mut b = Sketch::from_bytes(&b.to_bytes()).unwrap();
            b.merge(a);
            let e = b.estimate() as f64;
            assert!((e / n as f64 - 1.0).abs() < 0.03, "{n}: {e}");
        }
    }
}
