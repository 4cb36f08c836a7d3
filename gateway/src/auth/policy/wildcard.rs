//! `*` / `?` wildcard patterns, as policies use them in Action, Resource and `StringLike`.
//!
//! Patterns are classified once at parse time so the common shapes (`*`, an exact name, a
//! `prefix/*`) never run the general matcher, and matching never allocates: it runs on every
//! request.

/// Whether letters must match exactly (resources, `StringLike`) or ASCII-case-insensitively
/// (action names, which AWS compares case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Case {
    Sensitive,
    AsciiInsensitive,
}

#[derive(Debug, Clone)]
pub(super) struct Wildcard {
    shape: Shape,
    case: Case,
}

#[derive(Debug, Clone)]
enum Shape {
    /// `*`: matches everything.
    Any,
    /// No wildcard at all.
    Exact(String),
    /// Literal text followed by one trailing `*`.
    Prefix(String),
    /// Anything else: run the general matcher over the whole pattern.
    Glob(String),
}

impl Wildcard {
    pub(super) fn new(pattern: &str, case: Case) -> Self {
        let pattern = match case {
            Case::Sensitive => pattern.to_owned(),
            Case::AsciiInsensitive => pattern.to_ascii_lowercase(),
        };
        let shape = if pattern == "*" {
            Shape::Any
        } else if !pattern.contains(['*', '?']) {
            Shape::Exact(pattern)
        } else if let Some(head) = pattern.strip_suffix('*')
            && !head.contains(['*', '?'])
        {
            Shape::Prefix(head.to_owned())
        } else {
            Shape::Glob(pattern)
        };
        Wildcard { shape, case }
    }

    pub(super) fn matches(&self, text: &str) -> bool {
        let fold = self.case == Case::AsciiInsensitive;
        match &self.shape {
            Shape::Any => true,
            Shape::Exact(p) => bytes_eq(p.as_bytes(), text.as_bytes(), fold),
            Shape::Prefix(p) => {
                text.len() >= p.len() && bytes_eq(p.as_bytes(), &text.as_bytes()[..p.len()], fold)
            }
            Shape::Glob(p) => glob(p.as_bytes(), text.as_bytes(), fold),
        }
    }
}

fn bytes_eq(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    if fold {
        pattern.eq_ignore_ascii_case(text)
    } else {
        pattern == text
    }
}

fn byte_eq(p: u8, t: u8, fold: bool) -> bool {
    if fold { p == t.to_ascii_lowercase() } else { p == t }
}

/// Length of the UTF-8 character starting with `lead`, so `?` consumes one character, not one
/// byte, of a non-ASCII object key.
fn char_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        _ => 2,
    }
}

/// Iterative wildcard match with single-star backtracking: linear for typical patterns, no
/// recursion and no allocation. Both inputs are valid UTF-8, so literal bytes only ever match
/// whole characters and the text position stays on a character boundary.
fn glob(pattern: &[u8], text: &[u8], fold: bool) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the most recent `*`: (pattern index after it, text index it covers to).
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    p += 1;
                    resume = Some((p, t));
                    continue;
                }
                b'?' if t < text.len() => {
                    p += 1;
                    t += char_len(text[t]);
                    continue;
                }
                c if c != b'?' && t < text.len() && byte_eq(c, text[t], fold) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if t == text.len() {
            return true;
        }
        // Mismatch: let the last `*` swallow one more character and retry from there.
        match resume {
            Some((star_p, star_t)) if star_t < text.len() => {
                let next = star_t + char_len(text[star_t]);
                resume = Some((star_p, next));
                p = star_p;
                t = next;
            }
            _ => return false,
        }
    }
}
