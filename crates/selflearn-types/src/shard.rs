//! Personal artifacts partitioned by user: a stable hash of the user id picks one of `N`
//! shards, so a serving replica loads only the shards it answers for and a load balancer
//! routes each person to a replica that holds theirs.
//!
//! The shard of a user id is `(XXH3-64(user id) & (2^63 - 1)) mod N`, over the id's UTF-8
//! bytes with seed 0. Clearing the top bit makes it the value HAProxy computes with
//! `xxh3,and(9223372036854775807),mod(N)` (its `xxh3` converter gives a signed 64-bit
//! integer), so a balancer can route on it without selflearn's code.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::PERSON_SEPARATOR;

/// Most shards a set is cut into: more would be thousands of files for no gain.
pub const MAX_SHARDS: u32 = 4096;

/// The shard of `user_id` among `count` shards (`count` ≥ 1).
pub fn shard_of(user_id: &str, count: u32) -> u32 {
    let hash = twox_hash::XxHash3_64::oneshot(user_id.as_bytes()) & (u64::MAX >> 1);
    (hash % u64::from(count.max(1))) as u32
}

/// The user id inside a person key (`source`, the separator, the user id; or the user id
/// alone): shards go by the user id alone, which is what a balancer sees in a request.
pub fn user_of_person(person: &str) -> &str {
    person
        .rsplit_once(PERSON_SEPARATOR)
        .map_or(person, |(_, user)| user)
}

/// A contiguous range of shards out of a count: `3/16` is shard 3 of 16, `0-3/16` shards 0 to
/// 3 of 16, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardRange {
    /// First shard of the range.
    pub first: u32,
    /// Last shard of the range (included).
    pub last: u32,
    /// How many shards there are in all.
    pub count: u32,
}

impl ShardRange {
    /// Every shard of `count`.
    pub fn all(count: u32) -> Self {
        Self {
            first: 0,
            last: count.max(1) - 1,
            count: count.max(1),
        }
    }

    /// Whether shard `shard` is in the range.
    pub fn contains(&self, shard: u32) -> bool {
        (self.first..=self.last).contains(&shard)
    }

    /// Whether the person (a user id or a person key) falls in the range.
    pub fn holds(&self, person: &str) -> bool {
        self.contains(shard_of(user_of_person(person), self.count))
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}/{}", self.first, self.count)
        } else {
            write!(f, "{}-{}/{}", self.first, self.last, self.count)
        }
    }
}

impl FromStr for ShardRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let shape = || format!("{s:?} is not FIRST-LAST/COUNT or SHARD/COUNT (such as 0-3/16)");
        let (range, count) = s.split_once('/').ok_or_else(shape)?;
        let number = |part: &str| part.trim().parse::<u32>().map_err(|_| shape());
        let count = number(count)?;
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => {
                let shard = number(range)?;
                (shard, shard)
            }
        };
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "{s:?}: the count of shards must be 1 to {MAX_SHARDS}"
            ));
        }
        if first > last || last >= count {
            return Err(format!(
                "{s:?}: the shards must run from low to high, below the count {count}"
            ));
        }
        Ok(Self { first, last, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_print_and_refuse_what_they_cannot_be() {
        let range: ShardRange = "0-3/16".parse().unwrap();
        assert_eq!(
            range,
            ShardRange {
                first: 0,
                last: 3,
                count: 16
            }
        );
        assert_eq!(range.to_string(), "0-3/16");
        assert_eq!("5/8".parse::<ShardRange>().unwrap().to_string(), "5/8");
        assert!(range.contains(3) && !range.contains(4));
        for bad in [
            "",
            "3",
            "4-2/16",
            "0-16/16",
            "1/0",
            "x/4",
            "0-3/99999",
            "-1/4",
        ] {
            assert!(bad.parse::<ShardRange>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_user_has_one_shard_whatever_the_source_and_users_spread_over_all() {
        assert_eq!(user_of_person("ha\u{1f}alice"), "alice");
        assert_eq!(user_of_person("alice"), "alice");
        let range: ShardRange = "0-7/16".parse().unwrap();
        assert_eq!(range.holds("ha\u{1f}alice"), range.holds("alice"));
        let mut seen = [0u32; 16];
        for i in 0..16_000 {
            seen[shard_of(&format!("user-{i}"), 16) as usize] += 1;
        }
        // 1,000 expected in each; a hash that ignored part of the id would pile them up.
        assert!(seen.iter().all(|&n| (850..1150).contains(&n)), "{seen:?}");
        assert!(ShardRange::all(1).holds("anyone"));
    }

    #[test]
    fn the_shard_is_the_documented_formula() {
        // Values from an independent XXH3 implementation (the `xxhash` package of PyPI:
        // `(xxh3_64_intdigest(id) & (2**63 - 1)) % count`); a change of hash, seed, mask or
        // encoding would send people to replicas that do not hold them.
        assert_eq!(
            twox_hash::XxHash3_64::oneshot(b"alice"),
            5_593_767_425_381_308_080
        );
        for (user, of_16, of_1000) in [("alice", 0, 80), ("user-42", 13, 621), ("zo\u{eb}", 2, 642)]
        {
            assert_eq!(
                (shard_of(user, 16), shard_of(user, 1000)),
                (of_16, of_1000),
                "{user}"
            );
        }
    }
}
