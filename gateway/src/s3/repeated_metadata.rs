//! User metadata sent twice under one name (`x-amz-meta-colour: red` and `x-amz-meta-colour:
//! blue`) is one value joined by commas, as AWS stores and returns it ("Amazon S3 combines
//! headers with the same name into a comma-separated list"). s3s 0.14 refuses a repeated
//! header instead, so the repeats are joined before it sees them. SigV4 canonicalizes repeated
//! headers the same way (each value trimmed, joined by `,`), so the signature still verifies.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, HeaderName, HeaderValue};

const USER_METADATA: &str = "x-amz-meta-";

pub async fn join_repeated_metadata(mut req: Request, next: Next) -> Response {
    join_repeats(req.headers_mut());
    next.run(req).await
}

fn join_repeats(headers: &mut HeaderMap) {
    let repeated: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            name.as_str().starts_with(USER_METADATA) && headers.get_all(*name).iter().nth(1).is_some()
        })
        .cloned()
        .collect();
    for name in repeated {
        let joined: Vec<u8> = headers
            .get_all(&name)
            .iter()
            .map(|v| v.as_bytes().trim_ascii())
            .collect::<Vec<_>>()
            .join(&b","[..]);
        // Joining valid header values with a comma always gives a valid one.
        if let Ok(value) = HeaderValue::from_bytes(&joined) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_user_metadata_is_joined_in_order_and_the_rest_left_alone() {
        let mut h = HeaderMap::new();
        h.append("x-amz-meta-colour", " red ".parse().unwrap());
        h.append("x-amz-meta-colour", "blue".parse().unwrap());
        h.append("x-amz-meta-size", "big".parse().unwrap());
        h.append("cache-control", "a".parse().unwrap());
        h.append("cache-control", "b".parse().unwrap());

        join_repeats(&mut h);

        let all = |n: &str| {
            h.get_all(n)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(all("x-amz-meta-colour"), ["red,blue"]);
        assert_eq!(all("x-amz-meta-size"), ["big"]);
        assert_eq!(all("cache-control"), ["a", "b"]);
    }
}
