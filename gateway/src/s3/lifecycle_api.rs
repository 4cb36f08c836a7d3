//! Bucket lifecycle configuration calls, the validation S3 applies to them, and the
//! `x-amz-expiration` header of objects a rule will expire.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use time::OffsetDateTime;

use super::service::Gateway;
use super::tags;
use crate::lifecycle::rules::{self, Expiration as Exp, Filter, LifecycleConfig, NoncurrentExpiration, Rule};
use crate::model::ObjectHead;

/// S3 caps rule ids at 255 characters and noncurrent versions kept at 100.
const MAX_ID_LEN: usize = 255;
const MAX_NEWER_VERSIONS: i32 = 100;
/// How long a bucket's rules are reused for `x-amz-expiration` before being read again.
const RULES_TTL: Duration = Duration::from_secs(2);

fn malformed(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::MalformedXML, msg.into())
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, msg.into())
}

fn positive(days: Option<i32>, what: &str) -> S3Result<Option<u32>> {
    match days {
        None => Ok(None),
        Some(d) if d > 0 => Ok(Some(d as u32)),
        Some(_) => Err(invalid(format!(
            "'{what}' for a lifecycle rule must be a positive integer"
        ))),
    }
}

fn size(v: Option<i64>) -> S3Result<Option<u64>> {
    v.map(|n| u64::try_from(n).map_err(|_| invalid("Object size filters must not be negative")))
        .transpose()
}

fn filter_of(rule: &LifecycleRule) -> S3Result<Filter> {
    match (&rule.filter, &rule.prefix) {
        (Some(_), Some(_)) => Err(malformed(
            "A lifecycle rule can have a Filter or a Prefix, not both",
        )),
        (None, Some(prefix)) => Ok(Filter {
            prefix: prefix.clone(),
            legacy_prefix: true,
            ..Default::default()
        }),
        (None, None) => Ok(Filter::default()),
        (Some(f), None) => {
            let set = [
                f.and.is_some(),
                f.prefix.is_some(),
                f.tag.is_some(),
                f.object_size_greater_than.is_some() || f.object_size_less_than.is_some(),
            ];
            if set.iter().filter(|s| **s).count() > 1 {
                return Err(malformed(
                    "A lifecycle Filter holds one of Prefix, Tag, ObjectSize* or And",
                ));
            }
            if let Some(and) = &f.and {
                return Ok(Filter {
                    prefix: and.prefix.clone().unwrap_or_default(),
                    tags: tags::from_dto(and.tags.clone().unwrap_or_default())?,
                    size_greater_than: size(and.object_size_greater_than)?,
                    size_less_than: size(and.object_size_less_than)?,
                    legacy_prefix: false,
                });
            }
            Ok(Filter {
                prefix: f.prefix.clone().unwrap_or_default(),
                tags: f
                    .tag
                    .clone()
                    .map(|t| tags::from_dto(vec![t]))
                    .transpose()?
                    .unwrap_or_default(),
                size_greater_than: size(f.object_size_greater_than)?,
                size_less_than: size(f.object_size_less_than)?,
                legacy_prefix: false,
            })
        }
    }
}

fn expiration_of(e: &LifecycleExpiration) -> S3Result<Exp> {
    let marker = e.expired_object_delete_marker == Some(true);
    match (e.days, &e.date, marker) {
        (Some(_), Some(_), _) => Err(malformed("An Expiration can have Days or Date, not both")),
        (None, Some(_), true) | (Some(_), None, true) => Err(invalid(
            "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy",
        )),
        (Some(d), None, false) => Ok(Exp::Days(positive(Some(d), "Days")?.unwrap_or(1))),
        (None, Some(date), false) => {
            let t = OffsetDateTime::from(date.clone());
            if t.time() != time::Time::MIDNIGHT {
                return Err(invalid("'Date' must be at midnight GMT"));
            }
            Ok(Exp::Date(t.unix_timestamp()))
        }
        (None, None, true) => Ok(Exp::ExpiredObjectDeleteMarker),
        (None, None, false) => Err(malformed(
            "An Expiration needs Days, Date or ExpiredObjectDeleteMarker",
        )),
    }
}

/// Converts and validates one rule as S3 does.
fn rule_of(r: &LifecycleRule) -> S3Result<Rule> {
    if r.transitions.as_ref().is_some_and(|t| !t.is_empty())
        || r.noncurrent_version_transitions
            .as_ref()
            .is_some_and(|t| !t.is_empty())
    {
        return Err(invalid(
            "Transition and NoncurrentVersionTransition actions are not supported: storage tiering is managed \
             automatically. Use Expiration, NoncurrentVersionExpiration and AbortIncompleteMultipartUpload.",
        ));
    }
    let id =
        r.id.clone()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if id.len() > MAX_ID_LEN {
        return Err(invalid(
            "The ID of a lifecycle rule cannot be longer than 255 characters",
        ));
    }
    let enabled = match r.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        other => {
            return Err(malformed(format!(
                "Status must be Enabled or Disabled, not {other:?}"
            )));
        }
    };
    let filter = filter_of(r)?;
    let expiration = r.expiration.as_ref().map(expiration_of).transpose()?;
    let noncurrent = match &r.noncurrent_version_expiration {
        None => None,
        Some(n) => {
            let days = positive(n.noncurrent_days, "NoncurrentDays")?;
            let newer = match n.newer_noncurrent_versions {
                None => None,
                Some(v) if (1..=MAX_NEWER_VERSIONS).contains(&v) => Some(v as u32),
                Some(_) => return Err(invalid("NewerNoncurrentVersions must be between 1 and 100")),
            };
            if days.is_none() {
                return Err(invalid("NoncurrentVersionExpiration requires NoncurrentDays"));
            }
            Some(NoncurrentExpiration {
                days,
                newer_versions: newer,
            })
        }
    };
    let abort_incomplete_days = match &r.abort_incomplete_multipart_upload {
        None => None,
        Some(a) => Some(
            positive(a.days_after_initiation, "DaysAfterInitiation")?
                .ok_or_else(|| malformed("AbortIncompleteMultipartUpload needs DaysAfterInitiation"))?,
        ),
    };
    if !filter.tags.is_empty() {
        if abort_incomplete_days.is_some() {
            return Err(invalid(
                "AbortIncompleteMultipartUpload cannot be specified with Tags",
            ));
        }
        if expiration == Some(Exp::ExpiredObjectDeleteMarker) {
            return Err(invalid("ExpiredObjectDeleteMarker cannot be specified with Tags"));
        }
    }
    if expiration.is_none() && noncurrent.is_none() && abort_incomplete_days.is_none() {
        return Err(invalid("At least one action needs to be specified in a rule"));
    }
    Ok(Rule {
        id,
        enabled,
        filter,
        expiration,
        noncurrent,
        abort_incomplete_days,
    })
}

pub fn config_of(dto: Option<BucketLifecycleConfiguration>) -> S3Result<LifecycleConfig> {
    let rules = dto.map(|c| c.rules).unwrap_or_default();
    if rules.is_empty() {
        return Err(malformed("A lifecycle configuration needs at least one Rule"));
    }
    if rules.len() > rules::MAX_RULES {
        return Err(invalid("A lifecycle configuration can have at most 1,000 rules"));
    }
    let rules: Vec<Rule> = rules.iter().map(rule_of).collect::<S3Result<_>>()?;
    let mut ids = HashSet::new();
    if let Some(dup) = rules.iter().find(|r| !ids.insert(r.id.as_str())) {
        return Err(invalid(format!(
            "Rule ID must be unique. Found same ID for more than one rule: {}",
            dup.id
        )));
    }
    Ok(LifecycleConfig { rules })
}

fn dto_of(rule: &Rule) -> LifecycleRule {
    let f = &rule.filter;
    let mut out = LifecycleRule {
        id: Some(rule.id.clone()),
        status: ExpirationStatus::from_static(if rule.enabled {
            ExpirationStatus::ENABLED
        } else {
            ExpirationStatus::DISABLED
        }),
        abort_incomplete_multipart_upload: rule.abort_incomplete_days.map(|d| {
            AbortIncompleteMultipartUpload {
                days_after_initiation: Some(d as i32),
            }
        }),
        expiration: rule.expiration.as_ref().map(|e| match e {
            Exp::Days(d) => LifecycleExpiration {
                days: Some(*d as i32),
                ..Default::default()
            },
            Exp::Date(secs) => LifecycleExpiration {
                date: OffsetDateTime::from_unix_timestamp(*secs)
                    .ok()
                    .map(Timestamp::from),
                ..Default::default()
            },
            Exp::ExpiredObjectDeleteMarker => LifecycleExpiration {
                expired_object_delete_marker: Some(true),
                ..Default::default()
            },
        }),
        noncurrent_version_expiration: rule.noncurrent.as_ref().map(|n| NoncurrentVersionExpiration {
            noncurrent_days: n.days.map(|d| d as i32),
            newer_noncurrent_versions: n.newer_versions.map(|v| v as i32),
        }),
        filter: None,
        prefix: None,
        noncurrent_version_transitions: None,
        transitions: None,
    };
    if f.legacy_prefix {
        out.prefix = Some(f.prefix.clone());
        return out;
    }
    let conditions = usize::from(!f.prefix.is_empty())
        + f.tags.len()
        + usize::from(f.size_greater_than.is_some())
        + usize::from(f.size_less_than.is_some());
    let gt = f.size_greater_than.map(|n| n as i64);
    let lt = f.size_less_than.map(|n| n as i64);
    out.filter = Some(if conditions > 1 {
        LifecycleRuleFilter {
            and: Some(LifecycleRuleAndOperator {
                prefix: (!f.prefix.is_empty()).then(|| f.prefix.clone()),
                tags: (!f.tags.is_empty()).then(|| tags::to_dto(&f.tags)),
                object_size_greater_than: gt,
                object_size_less_than: lt,
            }),
            ..Default::default()
        }
    } else {
        LifecycleRuleFilter {
            prefix: Some(f.prefix.clone())
                .filter(|p| !p.is_empty() || f.tags.is_empty() && gt.is_none() && lt.is_none()),
            tag: tags::to_dto(&f.tags).into_iter().next(),
            object_size_greater_than: gt,
            object_size_less_than: lt,
            and: None,
        }
    });
    out
}

/// A bucket's rules, briefly cached for the `x-amz-expiration` of reads and writes.
#[derive(Default)]
pub struct RulesCache(Mutex<HashMap<String, (Instant, Option<LifecycleConfig>)>>);

impl RulesCache {
    pub fn forget(&self, bucket: &str) {
        if let Ok(mut c) = self.0.lock() {
            c.remove(bucket);
        }
    }
}

impl Gateway {
    pub(super) async fn put_lifecycle(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let input = req.input;
        let config = config_of(input.lifecycle_configuration)?;
        self.store.set_lifecycle(&input.bucket, Some(config)).await?;
        self.rules.forget(&input.bucket);
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub(super) async fn get_lifecycle(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let record = self.store.bucket(&req.input.bucket).await?;
        let config = record.lifecycle.ok_or_else(|| {
            S3Error::with_message(
                S3ErrorCode::NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist",
            )
        })?;
        Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
            rules: Some(config.rules.iter().map(dto_of).collect()),
            transition_default_minimum_object_size: None,
        }))
    }

    pub(super) async fn delete_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.store.set_lifecycle(&req.input.bucket, None).await?;
        self.rules.forget(&req.input.bucket);
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }

    /// `x-amz-expiration: expiry-date="...", rule-id="..."` for an object a rule will expire.
    pub(super) async fn expiration_of(&self, bucket: &str, key: &str, head: &ObjectHead) -> Option<String> {
        let cached = self.rules.0.lock().ok().and_then(|c| {
            c.get(bucket)
                .filter(|(at, _)| at.elapsed() < RULES_TTL)
                .map(|(_, r)| r.clone())
        });
        let config = match cached {
            Some(c) => c,
            None => {
                let c = self.store.bucket(bucket).await.ok()?.lifecycle;
                if let Ok(mut m) = self.rules.0.lock() {
                    m.insert(bucket.to_owned(), (Instant::now(), c.clone()));
                }
                c
            }
        }?;
        let (at, rule) = config.expiry_of(key, head.size, &head.tags, head.modified, self.lifecycle_day)?;
        Some(format!(
            "expiry-date=\"{}\", rule-id=\"{rule}\"",
            httpdate::fmt_http_date(at.into())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(f: impl FnOnce(&mut LifecycleRule)) -> LifecycleRule {
        let mut r = LifecycleRule {
            id: Some("r1".into()),
            status: ExpirationStatus::from_static(ExpirationStatus::ENABLED),
            expiration: Some(LifecycleExpiration {
                days: Some(3),
                ..Default::default()
            }),
            abort_incomplete_multipart_upload: None,
            filter: None,
            prefix: None,
            noncurrent_version_expiration: None,
            noncurrent_version_transitions: None,
            transitions: None,
        };
        f(&mut r);
        r
    }

    fn config(rules: Vec<LifecycleRule>) -> S3Result<LifecycleConfig> {
        config_of(Some(BucketLifecycleConfiguration { rules }))
    }

    fn code(r: S3Result<LifecycleConfig>) -> String {
        r.unwrap_err().code().as_str().to_owned()
    }

    #[test]
    fn a_rule_round_trips_through_the_model() {
        let r = rule(|r| {
            r.filter = Some(LifecycleRuleFilter {
                and: Some(LifecycleRuleAndOperator {
                    prefix: Some("logs/".into()),
                    tags: Some(vec![Tag {
                        key: Some("t".into()),
                        value: Some("v".into()),
                    }]),
                    object_size_greater_than: Some(10),
                    object_size_less_than: None,
                }),
                ..Default::default()
            });
        });
        let model = config(vec![r.clone()]).unwrap();
        assert_eq!(model.rules[0].filter.prefix, "logs/");
        assert_eq!(dto_of(&model.rules[0]).filter, r.filter);
    }

    #[test]
    fn invalid_configurations_are_refused_with_s3s_codes() {
        assert_eq!(code(config(vec![])), "MalformedXML");
        assert_eq!(
            code(config(vec![rule(|_| {}), rule(|_| {})])),
            "InvalidArgument",
            "duplicate ids"
        );
        assert_eq!(
            code(config(vec![rule(
                |r| r.status = ExpirationStatus::from("enabled".to_owned())
            )])),
            "MalformedXML"
        );
        assert_eq!(
            code(config(vec![rule(|r| r.expiration = Some(LifecycleExpiration {
                days: Some(0),
                ..Default::default()
            }))])),
            "InvalidArgument"
        );
        assert_eq!(
            code(config(vec![rule(|r| r.expiration = None)])),
            "InvalidArgument",
            "no action"
        );
        assert_eq!(
            code(config(vec![rule(|r| {
                r.prefix = Some("a".into());
                r.filter = Some(LifecycleRuleFilter::default());
            })])),
            "MalformedXML"
        );
        let both = LifecycleExpiration {
            days: Some(1),
            date: Some(Timestamp::from(OffsetDateTime::UNIX_EPOCH)),
            ..Default::default()
        };
        assert_eq!(
            code(config(vec![rule(|r| r.expiration = Some(both))])),
            "MalformedXML"
        );
        let noon = Timestamp::from(OffsetDateTime::UNIX_EPOCH + time::Duration::hours(12));
        assert_eq!(
            code(config(vec![rule(|r| r.expiration = Some(LifecycleExpiration {
                date: Some(noon),
                ..Default::default()
            }))])),
            "InvalidArgument"
        );
    }

    #[test]
    fn transitions_are_refused_with_a_reason() {
        let t = Transition {
            days: Some(30),
            storage_class: Some(TransitionStorageClass::from_static(
                TransitionStorageClass::GLACIER,
            )),
            date: None,
        };
        let e = config(vec![rule(|r| r.transitions = Some(vec![t]))]).unwrap_err();
        assert_eq!(e.code().as_str(), "InvalidArgument");
        assert!(e.message().unwrap().contains("not supported"));
    }
}
