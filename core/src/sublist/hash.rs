//! The fixed string hash shared by the match cache and wide trie levels.
//!
//! Word-at-a-time multiply/rotate, no random seed: the core must behave identically across
//! runs. Nothing here is exposed to an adversary who could gain from collisions beyond their
//! own connection or subjects: a collision costs a cache miss or one extra probe.

/// 2^64 / golden ratio: odd, with well-spread bits.
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Eight bytes per step; every step ends in a multiply, which carries each input bit into
/// the high bits that callers index by.
pub(super) fn hash_str(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut hash = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        hash = (hash.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(MULTIPLIER);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut word = [0u8; 8];
        word[..tail.len()].copy_from_slice(tail);
        hash = (hash.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(MULTIPLIER);
    }
    hash
}

/// Maps a hash onto `0..slots` from its high bits (multiply-shift range reduction), so any
/// slot count works, not only powers of two.
pub(super) fn reduce(hash: u64, slots: usize) -> usize {
    ((u128::from(hash) * slots as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_spread() {
        assert_eq!(hash_str("foo.bar"), hash_str("foo.bar"));
        assert_ne!(hash_str("foo.bar.1"), hash_str("foo.bar.2"));
        assert_ne!(hash_str("a"), hash_str("a\0"));
        assert_ne!(hash_str("abcdefgh"), hash_str("abcdefgh\0"));
        // Sequential names should land in many different slots.
        let mut used = [false; 64];
        for i in 0..64 {
            used[reduce(hash_str(&format!("orders.{i}")), 64)] = true;
        }
        assert!(used.iter().filter(|&&u| u).count() > 32);
        for slots in [1, 3, 64, 1000] {
            for s in ["", "x", "a.b.c.d.e.f.g.h.i"] {
                assert!(reduce(hash_str(s), slots) < slots);
            }
        }
    }
}
