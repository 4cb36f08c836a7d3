//! What a raw request got back, with the few readers S3 tests need.

use bytes::Bytes;
use http::HeaderMap;

/// A fully read HTTP response.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    /// The body as text (lossy UTF-8), for assertions and failure messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `<Code>` of an S3 error document (`<Error><Code>NoSuchKey</Code>...</Error>`).
    pub fn error_code(&self) -> Option<String> {
        xml_element(&self.text(), "Code")
    }

    /// The `<Message>` of an S3 error document.
    pub fn error_message(&self) -> Option<String> {
        xml_element(&self.text(), "Message")
    }

    /// A header's value, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The text of the first `<name>...</name>` element. Error documents are flat and small, so a
/// string search is exact enough and keeps an XML parser out of the harness.
fn xml_element(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&close)?;
    Some(xml[start..start + len].trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &'static str) -> RawResponse {
        RawResponse {
            status: 404,
            headers: HeaderMap::new(),
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn error_code_and_message_come_from_s3_error_xml() {
        let r = response(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message><RequestId>1</RequestId></Error>",
        );
        assert_eq!(r.error_code().as_deref(), Some("NoSuchKey"));
        assert_eq!(
            r.error_message().as_deref(),
            Some("The specified key does not exist.")
        );
    }

    #[test]
    fn error_code_is_none_without_error_xml() {
        assert_eq!(response("").error_code(), None);
        assert_eq!(response("<Error><Code>Unclosed").error_code(), None);
    }
}
