//! Scan order: a keyed pseudo-random permutation of the (address × port) index
//! space, walked lazily, and split into shards.
//!
//! The permutation is a four-round Feistel network over the smallest even power
//! of two that covers the space, with cycle-walking back into range (the
//! construction masscan and ZMap use in spirit). It needs O(1) memory whatever
//! the range size, interleaves hosts and ports so no host is hammered, and is
//! fully determined by the seed, so shard `k/N` of a seeded scan is the same on
//! every machine.

/// A keyed bijection on `[0, n)`.
#[derive(Clone, Debug)]
pub struct Permutation {
    n: u128,
    half_bits: u32,
    keys: [u64; 4],
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Permutation {
    /// A permutation of `[0, n)` keyed by `seed`.
    pub fn new(n: u128, seed: u64) -> Permutation {
        let bits = (128 - n.saturating_sub(1).leading_zeros()).max(2);
        let bits = bits + (bits & 1);
        let mut s = seed;
        let mut keys = [0u64; 4];
        for k in &mut keys {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *k = mix(s);
        }
        Permutation {
            n,
            half_bits: bits / 2,
            keys,
        }
    }

    /// Size of the domain.
    pub fn len(&self) -> u128 {
        self.n
    }

    /// True for the empty domain.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn round(&self, x: u128) -> u128 {
        let mask: u128 = if self.half_bits >= 64 {
            u64::MAX as u128
        } else {
            (1u128 << self.half_bits) - 1
        };
        let mut l = (x >> self.half_bits) & mask;
        let mut r = x & mask;
        for &k in &self.keys {
            let f = (mix((r as u64) ^ k) as u128 | ((mix(((r >> 64) as u64) ^ !k) as u128) << 64))
                & mask;
            let nl = r;
            r = l ^ f;
            l = nl;
        }
        (l << self.half_bits) | r
    }

    /// The image of `i` (which must be below `len()`).
    pub fn apply(&self, i: u128) -> u128 {
        debug_assert!(i < self.n);
        let mut x = self.round(i);
        while x >= self.n {
            x = self.round(x);
        }
        x
    }
}

/// Most shards one scan can be split into (`--shard`, `--shards`, `merge`).
pub const MAX_SHARDS: u64 = 65_536;

/// Which slice of the permuted space this process scans: indices `k, k+n, k+2n...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based shard index.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl Shard {
    /// Parses `K/N`: 0-based K, and 0 <= K < N <= [`MAX_SHARDS`]; None for
    /// anything else.
    pub fn parse(s: &str) -> Option<Shard> {
        let (k, n) = s.split_once('/')?;
        let index: u64 = k.trim().parse().ok()?;
        let count: u64 = n.trim().parse().ok()?;
        (index < count && count <= MAX_SHARDS).then_some(Shard { index, count })
    }

    /// How many of `total` indices fall in this shard.
    pub fn size_of(&self, total: u128) -> u128 {
        let (k, n) = (self.index as u128, self.count as u128);
        if total <= k {
            0
        } else {
            (total - k).div_ceil(n)
        }
    }
}

/// A lazy walk over one shard of the permuted space.
#[derive(Clone, Debug)]
pub struct Order {
    perm: Permutation,
    next: u128,
    step: u128,
}

impl Order {
    /// Walks shard `shard` of a `total`-sized space permuted by `seed`.
    pub fn new(total: u128, seed: u64, shard: Shard) -> Order {
        Order {
            perm: Permutation::new(total, seed),
            next: shard.index as u128,
            step: shard.count.max(1) as u128,
        }
    }
}

impl Iterator for Order {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        if self.next >= self.perm.len() {
            return None;
        }
        let v = self.perm.apply(self.next);
        self.next += self.step;
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_permutation() {
        for n in [1u128, 2, 3, 7, 100, 1000, 65535, 70000] {
            let mut seen = vec![false; n as usize];
            for v in Order::new(n, 42, Shard::default()) {
                assert!(!seen[v as usize], "duplicate {v} for n={n}");
                seen[v as usize] = true;
            }
            assert!(seen.iter().all(|&b| b), "n={n} not covered");
        }
    }

    #[test]
    fn shards_partition_the_space() {
        for count in [2u64, 19, 258] {
            let n = 10_000u128;
            let mut seen = vec![0u8; n as usize];
            let mut sizes = 0;
            for index in 0..count {
                let shard = Shard { index, count };
                let got: Vec<u128> = Order::new(n, 7, shard).collect();
                assert_eq!(got.len() as u128, shard.size_of(n));
                sizes += got.len();
                for v in got {
                    seen[v as usize] += 1;
                }
            }
            assert_eq!(sizes, n as usize);
            assert!(seen.iter().all(|&c| c == 1), "count={count}");
        }
    }

    #[test]
    fn shard_markers_are_bounded() {
        assert_eq!(Shard::parse("2/8"), Some(Shard { index: 2, count: 8 }));
        assert_eq!(
            Shard::parse("65535/65536").map(|s| s.count),
            Some(MAX_SHARDS)
        );
        for bad in [
            "5/2",
            "2/2",
            "1/0",
            "0/0",
            "-1/2",
            "0/65537",
            "0/1000000000000",
            "0/99999999999999999999999",
            "1",
            "a/b",
            "all/4",
            "",
        ] {
            assert_eq!(Shard::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn seed_determines_order() {
        let a: Vec<u128> = Order::new(1000, 1, Shard::default()).take(20).collect();
        let b: Vec<u128> = Order::new(1000, 1, Shard::default()).take(20).collect();
        let c: Vec<u128> = Order::new(1000, 2, Shard::default()).take(20).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// For any size, seed and shard count, the shards are disjoint, of
        /// the announced sizes, and together cover `[0, n)`.
        #[test]
        fn random_shardings_partition_the_space(
            n in 0u128..6000,
            seed in proptest::prelude::any::<u64>(),
            count in 1u64..40,
        ) {
            let mut seen = vec![0u8; n as usize];
            for index in 0..count {
                let shard = Shard { index, count };
                let mut got = 0u128;
                for v in Order::new(n, seed, shard) {
                    proptest::prop_assert!(v < n);
                    seen[v as usize] += 1;
                    got += 1;
                }
                proptest::prop_assert_eq!(got, shard.size_of(n));
            }
            proptest::prop_assert!(seen.iter().all(|&c| c == 1));
        }
    }

    #[test]
    fn huge_spaces_work_lazily() {
        let n = (1u128 << 64) * 65535;
        let mut o = Order::new(n, 3, Shard::default());
        for _ in 0..1000 {
            assert!(o.next().unwrap() < n);
        }
    }
}
