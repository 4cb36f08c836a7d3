//! Lifecycle rules: the validated model of a bucket's configuration, which objects a rule
//! covers, and when they are due. Pure: the worker and the S3 layer share it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::model::Nanos;

/// S3's limit of rules per bucket.
pub const MAX_RULES: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Expiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent: Option<NoncurrentExpiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_days: Option<u32>,
}

/// Which objects a rule covers. `legacy_prefix` records that the rule used the old top-level
/// `<Prefix>` rather than `<Filter>`, so GET returns what was PUT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
    #[serde(default)]
    pub legacy_prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    Days(u32),
    /// Unix seconds of a UTC midnight.
    Date(i64),
    /// Remove a delete marker that has no versions left behind it.
    ExpiredObjectDeleteMarker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub days: Option<u32>,
    /// Keep this many newest noncurrent versions whatever their age.
    pub newer_versions: Option<u32>,
}

impl Filter {
    /// Whether an object with this key, size and tags is covered.
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| tags.contains(t))
            && self.size_greater_than.is_none_or(|gt| size > gt)
            && self.size_less_than.is_none_or(|lt| size < lt)
    }
}

/// The instant `days` lifecycle days after `from`, rounded up to the next day boundary: with
/// real days, the next midnight UTC, as S3 computes it. `day` is the length of a lifecycle day
/// (shortened in tests and demos, like Ceph's `rgw_lc_debug_interval`).
pub fn due(from: Nanos, days: u32, day: Duration) -> OffsetDateTime {
    let day_ns = i128::try_from(day.as_nanos()).unwrap_or(i128::MAX).max(1);
    let t = i128::from(from.0) + i128::from(days) * day_ns;
    let rounded = t.div_euclid(day_ns) * day_ns + if t.rem_euclid(day_ns) == 0 { 0 } else { day_ns };
    OffsetDateTime::from_unix_timestamp_nanos(rounded).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl Rule {
    /// When a current object created at `created` expires under this rule, if it does.
    pub fn current_expiry(&self, created: Nanos, day: Duration) -> Option<OffsetDateTime> {
        match self.expiration.as_ref()? {
            Expiration::Days(d) => Some(due(created, *d, day)),
            Expiration::Date(secs) => OffsetDateTime::from_unix_timestamp(*secs).ok(),
            Expiration::ExpiredObjectDeleteMarker => None,
        }
    }

    /// Whether a noncurrent version expires: it became noncurrent at `since` and has `newer`
    /// noncurrent versions newer than itself.
    pub fn noncurrent_expires(&self, since: Nanos, newer: u32, now: OffsetDateTime, day: Duration) -> bool {
        let Some(n) = &self.noncurrent else { return false };
        n.newer_versions.is_none_or(|keep| newer >= keep) && n.days.is_none_or(|d| now >= due(since, d, day))
    }

    pub fn removes_expired_markers(&self) -> bool {
        self.expiration == Some(Expiration::ExpiredObjectDeleteMarker)
    }
}

impl LifecycleConfig {
    pub fn enabled(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().filter(|r| r.enabled)
    }

    /// The earliest expiry of a current object among the rules that cover it, with the rule's
    /// id (for `x-amz-expiration`).
    pub fn expiry_of(
        &self,
        key: &str,
        size: u64,
        tags: &[(String, String)],
        created: Nanos,
        day: Duration,
    ) -> Option<(OffsetDateTime, &str)> {
        self.enabled()
            .filter(|r| r.filter.matches(key, size, tags))
            .filter_map(|r| r.current_expiry(created, day).map(|t| (t, r.id.as_str())))
            .min_by_key(|(t, _)| *t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(t: OffsetDateTime) -> Nanos {
        Nanos::from_time(t)
    }

    fn rule(filter: Filter, expiration: Option<Expiration>) -> Rule {
        Rule {
            id: "r".into(),
            enabled: true,
            filter,
            expiration,
            noncurrent: None,
            abort_incomplete_days: None,
        }
    }

    #[test]
    fn expiry_is_rounded_up_to_the_next_midnight_utc() {
        let created = at(datetime!(2026-01-01 13:45 UTC));
        assert_eq!(due(created, 1, DAY), datetime!(2026-01-03 00:00 UTC));
        assert_eq!(
            due(at(datetime!(2026-01-01 00:00 UTC)), 1, DAY),
            datetime!(2026-01-02 00:00 UTC)
        );
        assert_eq!(due(created, 30, DAY), datetime!(2026-02-01 00:00 UTC));
    }

    #[test]
    fn short_lifecycle_days_round_to_their_own_boundaries() {
        let created = Nanos(10_500_000_000); // t = 10.5 s
        assert_eq!(
            due(created, 2, Duration::from_secs(5)),
            OffsetDateTime::from_unix_timestamp(25).unwrap()
        );
    }

    #[test]
    fn filters_combine_prefix_tags_and_sizes() {
        let f = Filter {
            prefix: "logs/".into(),
            tags: vec![("tier".into(), "tmp".into())],
            size_greater_than: Some(10),
            size_less_than: Some(100),
            legacy_prefix: false,
        };
        let tags = vec![("tier".into(), "tmp".into()), ("x".into(), "y".into())];
        assert!(f.matches("logs/a", 50, &tags));
        assert!(!f.matches("data/a", 50, &tags));
        assert!(!f.matches("logs/a", 50, &[]));
        assert!(!f.matches("logs/a", 10, &tags));
        assert!(!f.matches("logs/a", 100, &tags));
    }

    #[test]
    fn the_earliest_matching_rule_names_the_expiry() {
        let config = LifecycleConfig {
            rules: vec![
                Rule {
                    id: "late".into(),
                    ..rule(Filter::default(), Some(Expiration::Days(30)))
                },
                Rule {
                    id: "soon".into(),
                    ..rule(
                        Filter {
                            prefix: "tmp/".into(),
                            ..Default::default()
                        },
                        Some(Expiration::Days(1)),
                    )
                },
                Rule {
                    id: "off".into(),
                    enabled: false,
                    ..rule(Filter::default(), Some(Expiration::Days(0)))
                },
            ],
        };
        let created = at(datetime!(2026-01-01 12:00 UTC));
        assert_eq!(
            config.expiry_of("tmp/a", 1, &[], created, DAY),
            Some((datetime!(2026-01-03 00:00 UTC), "soon"))
        );
        assert_eq!(
            config.expiry_of("data/a", 1, &[], created, DAY).map(|(_, id)| id),
            Some("late")
        );
    }

    #[test]
    fn noncurrent_versions_expire_by_age_and_beyond_the_newest_kept() {
        let r = Rule {
            noncurrent: Some(NoncurrentExpiration {
                days: Some(1),
                newer_versions: Some(2),
            }),
            ..rule(Filter::default(), None)
        };
        let since = at(datetime!(2026-01-01 12:00 UTC));
        let later = datetime!(2026-01-03 00:00 UTC);
        assert!(
            !r.noncurrent_expires(since, 1, later, DAY),
            "one of the 2 newest noncurrent versions is kept"
        );
        assert!(r.noncurrent_expires(since, 2, later, DAY));
        assert!(
            !r.noncurrent_expires(since, 5, datetime!(2026-01-02 23:59 UTC), DAY),
            "not old enough"
        );
    }
}
