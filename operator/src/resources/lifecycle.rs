//! LifecycleRules -> one PutBucketLifecycleConfiguration body. S3 keeps one lifecycle
//! configuration per bucket, so every rule of the bucket is in it, ordered by rule ID; deleting a
//! rule re-applies the others (or deletes the configuration when none remain).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use quick_xml::escape::escape;

use crate::crd::{LifecycleFilter, LifecycleRuleSpec};

pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A LifecycleRule by name, as input to the merge.
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    pub name: &'a str,
    pub spec: &'a LifecycleRuleSpec,
}

/// The merged configuration, and the rules left out because another rule has their ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    /// `None` when no rules remain (the bucket's configuration is deleted).
    pub xml: Option<String>,
    /// Left-out rule resource name -> the rule ID it shares with an earlier one (by name).
    pub conflicts: BTreeMap<String, String>,
}

/// The rule's ID: `spec.id`, or else the resource's name.
pub fn rule_id<'a>(name: &'a str, spec: &'a LifecycleRuleSpec) -> &'a str {
    spec.id.as_deref().unwrap_or(name)
}

/// `2026-01-01` -> `2026-01-01T00:00:00.000Z` (S3 dates are midnight UTC).
pub fn midnight_utc(date: &str) -> String {
    format!("{date}T00:00:00.000Z")
}

fn element(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let value = value.to_string();
    let _ = write!(out, "<{name}>{}</{name}>", escape(value.as_str()));
}

fn tag(out: &mut String, key: &str, value: &str) {
    out.push_str("<Tag>");
    element(out, "Key", key);
    element(out, "Value", value);
    out.push_str("</Tag>");
}

/// `<Filter>`: empty for every object; a single criterion bare; several inside `<And>`.
pub fn filter_xml(filter: Option<&LifecycleFilter>) -> String {
    let Some(f) = filter else {
        return "<Filter></Filter>".to_owned();
    };
    let tags = f.tags.clone().unwrap_or_default();
    let criteria = usize::from(f.prefix.is_some())
        + tags.len()
        + usize::from(f.object_size_greater_than.is_some())
        + usize::from(f.object_size_less_than.is_some());
    let mut inner = String::new();
    if let Some(prefix) = &f.prefix {
        element(&mut inner, "Prefix", prefix);
    }
    for (k, v) in &tags {
        tag(&mut inner, k, v);
    }
    if let Some(n) = f.object_size_greater_than {
        element(&mut inner, "ObjectSizeGreaterThan", n);
    }
    if let Some(n) = f.object_size_less_than {
        element(&mut inner, "ObjectSizeLessThan", n);
    }
    if criteria > 1 {
        format!("<Filter><And>{inner}</And></Filter>")
    } else {
        format!("<Filter>{inner}</Filter>")
    }
}

/// One `<Rule>`.
pub fn rule_xml(id: &str, spec: &LifecycleRuleSpec) -> String {
    let mut out = String::from("<Rule>");
    element(&mut out, "ID", id);
    out.push_str(&filter_xml(spec.filter.as_ref()));
    element(
        &mut out,
        "Status",
        if spec.enabled { "Enabled" } else { "Disabled" },
    );
    if let Some(e) = &spec.expiration {
        out.push_str("<Expiration>");
        if let Some(days) = e.days {
            element(&mut out, "Days", days);
        }
        if let Some(date) = &e.date {
            element(&mut out, "Date", midnight_utc(date));
        }
        if let Some(marker) = e.expired_object_delete_marker {
            element(&mut out, "ExpiredObjectDeleteMarker", marker);
        }
        out.push_str("</Expiration>");
    }
    if let Some(n) = &spec.noncurrent_version_expiration {
        out.push_str("<NoncurrentVersionExpiration>");
        element(&mut out, "NoncurrentDays", n.noncurrent_days);
        if let Some(newer) = n.newer_noncurrent_versions {
            element(&mut out, "NewerNoncurrentVersions", newer);
        }
        out.push_str("</NoncurrentVersionExpiration>");
    }
    if let Some(a) = &spec.abort_incomplete_multipart_upload {
        out.push_str("<AbortIncompleteMultipartUpload>");
        element(&mut out, "DaysAfterInitiation", a.days_after_initiation);
        out.push_str("</AbortIncompleteMultipartUpload>");
    }
    out.push_str("</Rule>");
    out
}

/// Every rule in one configuration, ordered by ID. Of rules sharing an ID, the first by resource
/// name is kept and the others are reported.
pub fn merge(rules: &[Named<'_>]) -> Merged {
    let mut ordered: Vec<&Named<'_>> = rules.iter().collect();
    ordered.sort_by_key(|r| r.name);
    let mut kept: BTreeMap<&str, &Named<'_>> = BTreeMap::new();
    let mut conflicts = BTreeMap::new();
    let mut ids = BTreeSet::new();
    for rule in ordered {
        let id = rule_id(rule.name, rule.spec);
        if ids.insert(id) {
            kept.insert(id, rule);
        } else {
            conflicts.insert(rule.name.to_owned(), id.to_owned());
        }
    }
    let xml = (!kept.is_empty()).then(|| {
        let body: String = kept.iter().map(|(id, r)| rule_xml(id, r.spec)).collect();
        format!("<LifecycleConfiguration xmlns=\"{S3_NAMESPACE}\">{body}</LifecycleConfiguration>")
    });
    Merged { xml, conflicts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{AbortIncompleteMultipartUpload, Expiration, NoncurrentVersionExpiration};
    use crate::fixtures::rule_spec;

    fn ns(body: &str) -> String {
        format!("<LifecycleConfiguration xmlns=\"{S3_NAMESPACE}\">{body}</LifecycleConfiguration>")
    }

    #[test]
    fn every_action_of_one_rule() {
        let mut spec = rule_spec("logs");
        spec.id = Some("tmp & old".into());
        spec.filter = Some(LifecycleFilter {
            prefix: Some("tmp/".into()),
            ..LifecycleFilter::default()
        });
        spec.expiration = Some(Expiration {
            days: Some(7),
            ..Expiration::default()
        });
        spec.noncurrent_version_expiration = Some(NoncurrentVersionExpiration {
            noncurrent_days: 30,
            newer_noncurrent_versions: Some(3),
        });
        spec.abort_incomplete_multipart_upload = Some(AbortIncompleteMultipartUpload {
            days_after_initiation: 1,
        });
        let merged = merge(&[Named {
            name: "r",
            spec: &spec,
        }]);
        assert_eq!(
            merged.xml.as_deref(),
            Some(
                ns("<Rule><ID>tmp &amp; old</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status>\
                    <Expiration><Days>7</Days></Expiration>\
                    <NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays><NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration>\
                    <AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>")
                .as_str()
            )
        );
    }

    #[test]
    fn dates_are_midnight_utc_and_delete_markers_expire() {
        let mut by_date = rule_spec("logs");
        by_date.expiration = Some(Expiration {
            date: Some("2030-01-01".into()),
            ..Expiration::default()
        });
        assert_eq!(
            rule_xml("d", &by_date),
            "<Rule><ID>d</ID><Filter></Filter><Status>Enabled</Status>\
             <Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule>"
        );
        let mut markers = rule_spec("logs");
        markers.enabled = false;
        markers.expiration = Some(Expiration {
            expired_object_delete_marker: Some(true),
            ..Expiration::default()
        });
        assert_eq!(
            rule_xml("m", &markers),
            "<Rule><ID>m</ID><Filter></Filter><Status>Disabled</Status>\
             <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>"
        );
    }

    #[test]
    fn one_criterion_is_bare_several_are_anded() {
        let tag_only = LifecycleFilter {
            tags: Some(BTreeMap::from([("class".into(), "scratch".into())])),
            ..LifecycleFilter::default()
        };
        assert_eq!(
            filter_xml(Some(&tag_only)),
            "<Filter><Tag><Key>class</Key><Value>scratch</Value></Tag></Filter>"
        );
        let size_only = LifecycleFilter {
            object_size_greater_than: Some(1024),
            ..LifecycleFilter::default()
        };
        assert_eq!(
            filter_xml(Some(&size_only)),
            "<Filter><ObjectSizeGreaterThan>1024</ObjectSizeGreaterThan></Filter>"
        );
        let all = LifecycleFilter {
            prefix: Some("logs/<x>".into()),
            tags: Some(BTreeMap::from([
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
            ])),
            object_size_greater_than: Some(10),
            object_size_less_than: Some(1000),
        };
        assert_eq!(
            filter_xml(Some(&all)),
            "<Filter><And><Prefix>logs/&lt;x&gt;</Prefix>\
             <Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value>2</Value></Tag>\
             <ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>1000</ObjectSizeLessThan></And></Filter>"
        );
        assert_eq!(filter_xml(None), "<Filter></Filter>");
        assert_eq!(filter_xml(Some(&LifecycleFilter::default())), "<Filter></Filter>");
    }

    fn expiring(days: i32) -> LifecycleRuleSpec {
        let mut spec = rule_spec("logs");
        spec.expiration = Some(Expiration {
            days: Some(days),
            ..Expiration::default()
        });
        spec
    }

    #[test]
    fn rules_of_a_bucket_merge_in_id_order_and_ids_default_to_names() {
        let (a, b) = (expiring(1), expiring(2));
        let merged = merge(&[
            Named {
                name: "zeta",
                spec: &a,
            },
            Named {
                name: "alpha",
                spec: &b,
            },
        ]);
        let xml = merged.xml.expect("xml");
        let alpha = xml.find("<ID>alpha</ID>").expect("alpha");
        let zeta = xml.find("<ID>zeta</ID>").expect("zeta");
        assert!(alpha < zeta, "{xml}");
        assert!(merged.conflicts.is_empty());
    }

    #[test]
    fn a_rule_id_used_twice_keeps_the_first_by_name_and_reports_the_other() {
        let mut a = expiring(1);
        a.id = Some("same".into());
        let mut b = expiring(2);
        b.id = Some("same".into());
        let merged = merge(&[
            Named {
                name: "second",
                spec: &b,
            },
            Named {
                name: "first",
                spec: &a,
            },
        ]);
        assert_eq!(
            merged.conflicts,
            BTreeMap::from([("second".to_owned(), "same".to_owned())])
        );
        let xml = merged.xml.expect("xml");
        assert!(
            xml.contains("<Days>1</Days>") && !xml.contains("<Days>2</Days>"),
            "{xml}"
        );
    }

    #[test]
    fn no_rules_means_no_configuration() {
        assert_eq!(merge(&[]).xml, None);
    }
}
