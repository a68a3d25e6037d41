//! An inverted-file index (IVF) for large candidate sets: spherical k-means cuts the encodings
//! into lists around centroids, and a search scans only the lists of the centroids nearest the
//! query, in fixed point ([`crate::index`]'s 12-bit rows), before the exact cosines of a short
//! list decide (Jégou, Douze and Schmid, 2011, without the product quantiser: at 64 dimensions
//! the 16-bit rows are small enough, and their scan is exact up to rounding).
//!
//! Built from a seed, so the same encodings give the same lists; the build is a few passes of
//! dot products, spread over the machine's cores.

use crate::encoder::dot;
use crate::index::{dot_fixed, quantise, top};

/// How an [`Ivf`] is built and searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IvfConfig {
    /// Lists (centroids); 0: eight times the square root of the number of encodings (8,000
    /// at 1M: short lists, so that a probe costs little and many can be probed).
    pub lists: usize,
    /// Lists scanned per search.
    pub probes: usize,
    /// Encodings per list the centroids are trained on (a seeded sample).
    pub sample_per_list: usize,
    /// Rounds of k-means.
    pub rounds: usize,
    /// Seed of the sample and of the first centroids.
    pub seed: u64,
}

impl Default for IvfConfig {
    fn default() -> Self {
        Self {
            lists: 0,
            probes: 128,
            sample_per_list: 32,
            rounds: 10,
            seed: 0x5e1f,
        }
    }
}

/// Candidates kept from the fixed-point scan for every one asked for.
const RERANK_FACTOR: usize = 4;

/// The index: centroids, and each list's members with their fixed-point rows, stored list
/// after list so that a probe reads contiguous memory.
#[derive(Clone)]
pub struct Ivf {
    dim: usize,
    probes: usize,
    centroids: Vec<f32>,
    /// `offsets[l]..offsets[l + 1]` are list `l`'s rows.
    offsets: Vec<usize>,
    /// The encoding each row is of.
    ids: Vec<u32>,
    values: Vec<i16>,
    scales: Vec<f32>,
}

impl std::fmt::Debug for Ivf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Ivf({} rows in {} lists, {} probed)",
            self.ids.len(),
            self.lists(),
            self.probes
        )
    }
}

/// SplitMix64: a seeded sequence for the sample, with no dependency.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `label` of each row of `rows` (`dim` values each), the rows cut into one run per core.
fn label_rows(rows: &[f32], dim: usize, label: impl Fn(&[f32]) -> u32 + Sync) -> Vec<u32> {
    let n = rows.len() / dim;
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .min(n.max(1));
    let per = n.div_ceil(threads.max(1)).max(1);
    let mut out = vec![0u32; n];
    let label = &label;
    std::thread::scope(|scope| {
        for (chunk, slots) in rows.chunks(per * dim).zip(out.chunks_mut(per)) {
            scope.spawn(move || {
                for (row, slot) in chunk.chunks_exact(dim).zip(slots.iter_mut()) {
                    *slot = label(row);
                }
            });
        }
    });
    out
}

/// The index of the highest of `scores` (the first of equals); 0 when there are none.
fn best_of(scores: impl Iterator<Item = (usize, f32)>) -> u32 {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, score) in scores {
        if score > best.1 {
            best = (i, score);
        }
    }
    best.0 as u32
}

/// The nearest centroid (highest dot product) of each row of `rows`, on all cores.
fn assign(rows: &[f32], centroids: &[f32], dim: usize) -> Vec<u32> {
    label_rows(rows, dim, |row| {
        best_of(centroids.chunks_exact(dim).map(|c| dot(row, c)).enumerate())
    })
}

/// The list of each row: the nearest centroid among the lists of its nearest
/// [`PLACE_AMONG_GROUPS`] coarse groups, on all cores.
fn place(
    rows: &[f32],
    coarse: &[f32],
    centroids: &[f32],
    group_lists: &[usize],
    dim: usize,
) -> Vec<u32> {
    label_rows(rows, dim, |row| {
        let near = top(
            coarse.chunks_exact(dim).map(|c| dot(row, c)).enumerate(),
            PLACE_AMONG_GROUPS,
        );
        let lists = near
            .into_iter()
            .flat_map(|(g, _)| group_lists[g]..group_lists[g + 1]);
        best_of(lists.map(|l| (l, dot(row, &centroids[l * dim..(l + 1) * dim]))))
    })
}

/// Scales a vector to unit length (a zero vector stays zero).
fn normalise(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Spherical k-means of `rows` into `k` unit centroids, starting from the first `k` rows (the
/// caller's rows are a seeded sample in random order).
fn kmeans(rows: &[f32], dim: usize, k: usize, rounds: usize) -> Vec<f32> {
    let n = rows.len() / dim;
    let k = k.clamp(1, n.max(1));
    let mut centroids: Vec<f32> = rows[..k * dim].to_vec();
    for _ in 0..rounds {
        let nearest = assign(rows, &centroids, dim);
        let mut sums = vec![0.0f32; k * dim];
        let mut counts = vec![0usize; k];
        for (row, &c) in rows.chunks_exact(dim).zip(&nearest) {
            let c = c as usize;
            counts[c] += 1;
            for (s, x) in sums[c * dim..(c + 1) * dim].iter_mut().zip(row) {
                *s += x;
            }
        }
        // A cluster left empty keeps its centroid.
        for c in (0..k).filter(|&c| counts[c] > 0) {
            let centroid = &mut sums[c * dim..(c + 1) * dim];
            normalise(centroid);
            centroids[c * dim..(c + 1) * dim].copy_from_slice(centroid);
        }
    }
    centroids
}

/// Coarse groups scored when a point is placed: its list is the nearest centroid within them.
const PLACE_AMONG_GROUPS: usize = 3;

impl Ivf {
    /// Builds the index of `encodings` (`dim` values each, unit length).
    ///
    /// Two levels of k-means keep the lists even where requests crowd (one carrier with many
    /// slot values): coarse groups first, then each group's sample cut into lists in proportion
    /// to its size. A point goes to the nearest list among the nearest few groups' lists.
    pub fn build(encodings: &[f32], dim: usize, config: IvfConfig) -> Self {
        let n = encodings.len() / dim;
        if n == 0 {
            return Self {
                dim,
                probes: 1,
                centroids: Vec::new(),
                offsets: vec![0],
                ids: Vec::new(),
                values: Vec::new(),
                scales: Vec::new(),
            };
        }
        let lists = match config.lists {
            0 => (8.0 * (n as f64).sqrt()).round() as usize,
            l => l,
        }
        .clamp(1, n);
        // A seeded sample of the encodings trains the centroids.
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut state = config.seed;
        let wanted = (lists * config.sample_per_list).min(n);
        for i in 0..wanted {
            let j = i + (splitmix(&mut state) % (n - i) as u64) as usize;
            order.swap(i, j);
        }
        let sample: Vec<f32> = order[..wanted]
            .iter()
            .flat_map(|&i| {
                encodings[i as usize * dim..(i as usize + 1) * dim]
                    .iter()
                    .copied()
            })
            .collect();
        let groups = ((lists as f64).sqrt().round() as usize).clamp(1, wanted);
        let coarse = kmeans(&sample, dim, groups, config.rounds);
        let group_of = assign(&sample, &coarse, dim);
        let groups = coarse.len() / dim;
        let mut centroids: Vec<f32> = Vec::with_capacity(lists * dim);
        // `group_lists[g]..group_lists[g + 1]`: the lists of group g.
        let mut group_lists = vec![0usize; groups + 1];
        for g in 0..groups {
            let members: Vec<f32> = sample
                .chunks_exact(dim)
                .zip(&group_of)
                .filter(|(_, c)| **c as usize == g)
                .flat_map(|(row, _)| row.iter().copied())
                .collect();
            let size = members.len() / dim;
            if size > 0 {
                let share = ((lists * size) as f64 / wanted as f64).round() as usize;
                centroids.extend(kmeans(&members, dim, share.max(1), config.rounds));
            }
            group_lists[g + 1] = centroids.len() / dim;
        }
        let lists = centroids.len() / dim;
        let nearest = place(encodings, &coarse, &centroids, &group_lists, dim);
        let mut offsets = vec![0usize; lists + 1];
        for &c in &nearest {
            offsets[c as usize + 1] += 1;
        }
        for l in 0..lists {
            offsets[l + 1] += offsets[l];
        }
        let mut next = offsets.clone();
        let mut ids = vec![0u32; n];
        for (i, &c) in nearest.iter().enumerate() {
            ids[next[c as usize]] = i as u32;
            next[c as usize] += 1;
        }
        let mut values = Vec::with_capacity(n * dim);
        let mut scales = Vec::with_capacity(n);
        for &i in &ids {
            let (row, scale) = quantise(&encodings[i as usize * dim..(i as usize + 1) * dim]);
            values.extend(row);
            scales.push(scale);
        }
        Self {
            dim,
            probes: config.probes.clamp(1, lists),
            centroids,
            offsets,
            ids,
            values,
            scales,
        }
    }

    /// The largest list: what one probe may cost at worst.
    pub fn longest_list(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }

    /// Number of lists.
    pub fn lists(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The same index, scanning `probes` lists per search.
    pub fn with_probes(mut self, probes: usize) -> Self {
        self.probes = probes.clamp(1, self.lists().max(1));
        self
    }

    /// The `k` encodings most similar to `query` (ids into the encodings it was built from),
    /// best first, with their exact cosine; ties keep the lower id first.
    pub fn search(&self, query: &[f32], encodings: &[f32], k: usize) -> Vec<(usize, f32)> {
        let dim = self.dim;
        let near = top(
            self.centroids
                .chunks_exact(dim)
                .map(|c| dot(query, c))
                .enumerate(),
            self.probes,
        );
        let (query_fixed, _) = quantise(query);
        let scanned = near.iter().flat_map(|&(list, _)| {
            let rows = self.offsets[list]..self.offsets[list + 1];
            rows.map(|r| {
                let row = &self.values[r * dim..(r + 1) * dim];
                (
                    self.ids[r] as usize,
                    dot_fixed(&query_fixed, row) as f32 * self.scales[r],
                )
            })
        });
        let mut shortlist = top(scanned, k.saturating_mul(RERANK_FACTOR));
        shortlist.sort_by_key(|(i, _)| *i);
        let exact = shortlist
            .into_iter()
            .map(|(i, _)| (i, dot(query, &encodings[i * dim..(i + 1) * dim])));
        top(exact, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` unit vectors around `clusters` seeded centres, as encodings of related requests are.
    fn clustered(n: usize, clusters: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut uniform = || (splitmix(&mut state) >> 11) as f32 / (1u64 << 53) as f32 - 0.5;
        let centres: Vec<f32> = (0..clusters * dim).map(|_| uniform()).collect();
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            let centre = &centres[(i % clusters) * dim..(i % clusters + 1) * dim];
            let mut v: Vec<f32> = centre.iter().map(|c| c + 0.3 * uniform()).collect();
            normalise(&mut v);
            out.extend(v);
        }
        out
    }

    fn exact(query: &[f32], encodings: &[f32], dim: usize, k: usize) -> Vec<usize> {
        top(
            encodings
                .chunks_exact(dim)
                .map(|e| dot(query, e))
                .enumerate(),
            k,
        )
        .into_iter()
        .map(|(i, _)| i)
        .collect()
    }

    #[test]
    fn it_finds_what_an_exact_scan_finds_and_every_list_probed_is_exact() {
        let dim = 64;
        let encodings = clustered(20_000, 200, dim, 3);
        let queries = clustered(200, 97, dim, 4);
        let ivf = Ivf::build(&encodings, dim, IvfConfig::default());
        assert!(
            (1000..=1250).contains(&ivf.lists()),
            "{} lists",
            ivf.lists()
        );
        assert!(
            ivf.longest_list() < 200,
            "lists stay even: {}",
            ivf.longest_list()
        );
        let mut found = 0;
        for q in queries.chunks_exact(dim) {
            let truth = exact(q, &encodings, dim, 10);
            let got: Vec<usize> = ivf
                .search(q, &encodings, 10)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            found += got.iter().filter(|i| truth.contains(i)).count();
        }
        let recall = found as f64 / 2000.0;
        assert!(recall > 0.9, "recall@10 {recall}");
        // Probing every list scans everything: the same ten as the exact scan.
        let all = ivf.clone().with_probes(usize::MAX);
        for q in queries.chunks_exact(dim).take(20) {
            let got: Vec<usize> = all
                .search(q, &encodings, 10)
                .into_iter()
                .map(|(i, _)| i)
                .collect();
            assert_eq!(got, exact(q, &encodings, dim, 10));
        }
        // The same seed, the same lists.
        assert_eq!(
            Ivf::build(&encodings, dim, IvfConfig::default()).ids,
            ivf.ids
        );
    }

    #[test]
    fn tiny_and_degenerate_inputs_do_not_panic() {
        let dim = 64;
        let one = clustered(1, 1, dim, 1);
        let ivf = Ivf::build(&one, dim, IvfConfig::default());
        assert_eq!(ivf.search(&one, &one, 10).len(), 1);
        let zeros = vec![0.0f32; 10 * dim];
        let ivf = Ivf::build(&zeros, dim, IvfConfig::default());
        assert_eq!(ivf.search(&zeros[..dim], &zeros, 3).len(), 3);
        let empty = Ivf::build(&[], dim, IvfConfig::default());
        assert!(empty.search(&zeros[..dim], &[], 3).is_empty());
    }
}
