//! What the encoder sees of a text: hashed character trigrams (inside word boundaries) and
//! words. Trigrams survive the partial misrecognitions ASR makes ("yellow walk" / "yelawolf"
//! share `<ye`, `yel`, `wol`); words carry the rest.

use selflearn_signals::normalise;

/// Number of hash buckets of the input features.
pub const BUCKETS: usize = 1 << 14;

/// The features of a text: (bucket, weight) pairs, L2-normalised, buckets ascending and unique.
pub fn features(text: &str) -> Vec<(u32, f32)> {
    let text = normalise(text);
    let mut counts: Vec<(u32, f32)> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        counts.push((bucket(b"w", word.as_bytes()), 1.0));
        let padded: Vec<char> = format!("<{word}>").chars().collect();
        for gram in padded.windows(3) {
            let gram: String = gram.iter().collect();
            counts.push((bucket(b"c", gram.as_bytes()), 1.0));
        }
    }
    counts.sort_unstable_by_key(|(b, _)| *b);
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(counts.len());
    for (b, w) in counts {
        match merged.last_mut() {
            Some(last) if last.0 == b => last.1 += w,
            _ => merged.push((b, w)),
        }
    }
    let norm = merged.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, w) in &mut merged {
            *w /= norm;
        }
    }
    merged
}

/// FNV-1a of a kind tag and the bytes, folded into the buckets.
fn bucket(kind: &[u8], bytes: &[u8]) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in kind.iter().chain(b":").chain(bytes) {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % BUCKETS as u64) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
        a.iter()
            .map(|(i, x)| b.iter().find(|(j, _)| j == i).map_or(0.0, |(_, y)| x * y))
            .sum()
    }

    #[test]
    fn features_are_normalised_and_close_for_close_texts() {
        let a = features("Play Yelawolf");
        let norm: f32 = a.iter().map(|(_, w)| w * w).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0));
        let near = cosine(&a, &features("play yellow wolf"));
        let far = cosine(&a, &features("what is the weather"));
        assert!(near > 0.3 && far < 0.15, "near {near}, far {far}");
        assert!(features("").is_empty());
    }
}
