//! `Range: bytes=…` on downloads (RFC 9110 §14): one range is honoured; several ranges,
//! other units or syntax we do not read are ignored and the whole file is sent.

/// A range as the client wrote it, before the file's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spec {
    /// `start-` or `start-end` (inclusive).
    From {
        /// First byte.
        start: u64,
        /// Last byte, if given.
        end: Option<u64>,
    },
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// Reads a `Range` header value; `None` when the whole file should be sent.
pub fn parse(value: &str) -> Option<Spec> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = (start.trim(), end.trim());
    if start.is_empty() {
        return end.parse().ok().map(Spec::Suffix);
    }
    let start = start.parse().ok()?;
    let end = if end.is_empty() {
        None
    } else {
        let end: u64 = end.parse().ok()?;
        if end < start {
            return None;
        }
        Some(end)
    };
    Some(Spec::From { start, end })
}

/// The inclusive byte range of a file of `size` bytes, or `None` when the range cannot be
/// satisfied (answered with 416).
pub fn resolve(spec: Spec, size: u64) -> Option<(u64, u64)> {
    match spec {
        Spec::From { start, .. } if start >= size => None,
        Spec::From { start, end } => Some((start, end.map_or(size - 1, |e| e.min(size - 1)))),
        Spec::Suffix(0) => None,
        Spec::Suffix(_) if size == 0 => None,
        Spec::Suffix(n) => Some((size.saturating_sub(n), size - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_against_the_size() {
        let r = |v: &str| parse(v).and_then(|s| resolve(s, 100));
        assert_eq!(r("bytes=0-9"), Some((0, 9)));
        assert_eq!(r("bytes=90-"), Some((90, 99)));
        assert_eq!(r("bytes=90-500"), Some((90, 99)));
        assert_eq!(r("bytes=-10"), Some((90, 99)));
        assert_eq!(r("bytes=-500"), Some((0, 99)));
        assert_eq!(r("bytes=100-"), None);
        assert_eq!(r("bytes=-0"), None);
        // Ignored: the whole file is sent.
        assert_eq!(parse("bytes=0-1,5-6"), None);
        assert_eq!(parse("items=0-1"), None);
        assert_eq!(parse("bytes=9-1"), None);
        assert_eq!(parse("bytes=x-"), None);
    }
}
