//! Tag sets (objects and buckets): S3's limits, and the `x-amz-tagging` header's URL-query form.

use s3s::dto::Tag;
use s3s::{S3Error, S3ErrorCode, S3Result};

/// S3 limits: 10 tags; keys up to 128 characters, values up to 256 (seed 002 for buckets, AWS
/// for objects).
const MAX_TAGS: usize = 10;
const MAX_KEY_CHARS: usize = 128;
const MAX_VALUE_CHARS: usize = 256;

pub type TagSet = Vec<(String, String)>;

fn invalid_tag(msg: impl Into<String>) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, msg.into())
}

pub fn validate(tags: TagSet) -> S3Result<TagSet> {
    if tags.len() > MAX_TAGS {
        return Err(invalid_tag("Object tags cannot be greater than 10"));
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        if k.is_empty() || k.chars().count() > MAX_KEY_CHARS {
            return Err(invalid_tag("The TagKey you have provided is invalid"));
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(invalid_tag("The TagValue you have provided is invalid"));
        }
        if tags[..i].iter().any(|(other, _)| other == k) {
            return Err(invalid_tag("Cannot provide multiple Tags with the same key"));
        }
    }
    Ok(tags)
}

/// Parses `x-amz-tagging: k1=v1&k2=v2` (URL-encoded).
pub fn from_header(header: Option<&str>) -> S3Result<TagSet> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let decode = |s: &str| {
        urlencoding::decode(&s.replace('+', " "))
            .map(|c| c.into_owned())
            .map_err(|_| invalid_tag("The x-amz-tagging header is not valid URL encoding"))
    };
    let tags = header
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(k)?, decode(v)?))
        })
        .collect::<S3Result<TagSet>>()?;
    validate(tags)
}

pub fn from_dto(set: Vec<Tag>) -> S3Result<TagSet> {
    validate(
        set.into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect(),
    )
}

pub fn to_dto(tags: &TagSet) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tagging_header() {
        let tags = from_header(Some("project=blue%20sky&team=ml+ops&empty=")).unwrap();
        assert_eq!(
            tags,
            vec![
                ("project".into(), "blue sky".into()),
                ("team".into(), "ml ops".into()),
                ("empty".into(), "".into())
            ]
        );
        assert!(from_header(None).unwrap().is_empty());
    }

    #[test]
    fn enforces_s3_limits() {
        let many: TagSet = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(validate(many).is_err());
        assert!(validate(vec![("k".repeat(129), "v".into())]).is_err());
        assert!(validate(vec![("k".repeat(128), "v".repeat(256))]).is_ok());
        assert!(validate(vec![("k".into(), "v".repeat(257))]).is_err());
        assert!(validate(vec![("k".into(), "a".into()), ("k".into(), "b".into())]).is_err());
        assert!(validate(vec![(String::new(), "v".into())]).is_err());
    }
}
