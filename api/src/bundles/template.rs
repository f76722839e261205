//! A published script with Kloudless's URLs cut out, put back together with ours.

use std::sync::Mutex;

use axum::body::Bytes;

/// One piece of a script: its own text, or the base URL followed by a path.
#[derive(Debug)]
enum Piece {
    Text(Box<str>),
    Base(&'static str),
}

/// A literal of a published file and what takes its place.
#[derive(Clone, Copy, Debug)]
pub struct Swap {
    /// The literal.
    pub from: &'static str,
    /// What replaces it.
    pub to: To,
    /// How many times the published file has it.
    pub times: usize,
}

/// What replaces a literal.
#[derive(Clone, Copy, Debug)]
pub enum To {
    /// The base URL followed by this path.
    Here(&'static str),
    /// This text.
    Text(&'static str),
}

impl Swap {
    /// `from` once, becoming the base URL followed by `path`.
    pub const fn once(from: &'static str, path: &'static str) -> Self {
        Self {
            from,
            to: To::Here(path),
            times: 1,
        }
    }
}

/// A script whose built-in URLs become the serving appliance's own.
#[derive(Debug)]
pub struct Template {
    pieces: Vec<Piece>,
    /// The last rendering: one per process in practice (the public URL), so one is kept.
    last: Mutex<Option<(String, Bytes)>>,
}

/// Why a script cannot be made into a template.
#[derive(Debug, PartialEq, Eq)]
pub struct Unrecognised {
    /// The literal that did not occur exactly once.
    pub literal: &'static str,
    /// How many times it occurred.
    pub found: usize,
}

impl Template {
    /// Cuts `text` at each literal of `swaps`, to be replaced when rendered. Each literal
    /// must occur exactly as many times as the swap says, so a bundle built differently
    /// from the published one is refused, not half rewritten.
    pub fn new(text: &str, swaps: &[Swap]) -> Result<Self, Unrecognised> {
        let mut cuts = Vec::new();
        for swap in swaps {
            let literal = swap.from;
            let found: Vec<usize> = text.match_indices(literal).map(|(at, _)| at).collect();
            if found.len() != swap.times {
                return Err(Unrecognised {
                    literal,
                    found: found.len(),
                });
            }
            cuts.extend(found.into_iter().map(|at| (at, literal, swap.to)));
        }
        cuts.sort_unstable_by_key(|&(at, _, _)| at);
        let mut pieces = Vec::with_capacity(cuts.len() * 2 + 1);
        let mut from = 0;
        for (at, literal, to) in cuts {
            if at < from {
                // Two literals overlap: no faithful rewriting exists.
                return Err(Unrecognised { literal, found: 2 });
            }
            pieces.push(Piece::Text(text[from..at].into()));
            pieces.push(match to {
                To::Here(path) => Piece::Base(path),
                To::Text(t) => Piece::Text(t.into()),
            });
            from = at + literal.len();
        }
        pieces.push(Piece::Text(text[from..].into()));
        Ok(Self {
            pieces,
            last: Mutex::new(None),
        })
    }

    /// The script for an appliance answering at `base` (a URL without a trailing slash).
    pub fn render(&self, base: &str) -> Bytes {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((b, bytes)) = last.as_ref() {
            if b == base {
                return bytes.clone();
            }
        }
        let mut out = String::with_capacity(self.len(base));
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Base(path) => {
                    out.push_str(base);
                    out.push_str(path);
                }
            }
        }
        let bytes = Bytes::from(out);
        *last = Some((base.to_string(), bytes.clone()));
        bytes
    }

    fn len(&self, base: &str) -> usize {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.len(),
                Piece::Base(path) => base.len() + path.len(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_literal_is_replaced_in_place() {
        let t = Template::new(
            r#"a="https://k.example";b="https://s.example/x";c"#,
            &[
                Swap::once("https://s.example/x", "/w/s"),
                Swap::once("https://k.example", ""),
            ],
        )
        .unwrap();
        assert_eq!(
            &t.render("http://h:1")[..],
            br#"a="http://h:1";b="http://h:1/w/s";c"#
        );
        // A second base renders afresh; the first again is the same.
        assert_eq!(
            &t.render("https://o")[..],
            br#"a="https://o";b="https://o/w/s";c"#
        );
        assert_eq!(
            &t.render("http://h:1")[..],
            br#"a="http://h:1";b="http://h:1/w/s";c"#
        );
    }

    #[test]
    fn a_literal_missing_or_repeated_refuses_the_bundle() {
        let missing = Template::new("abc", &[Swap::once("x", "")]).unwrap_err();
        assert_eq!(
            missing,
            Unrecognised {
                literal: "x",
                found: 0
            }
        );
        let twice = Template::new("xax", &[Swap::once("x", "")]).unwrap_err();
        assert_eq!(twice.found, 2);
    }

    #[test]
    fn a_literal_may_be_replaced_each_time_by_text() {
        let every = Swap {
            from: "u(k/",
            to: To::Text("u(/s/"),
            times: 2,
        };
        let t = Template::new("u(k/a) u(k/b)", &[every]).unwrap();
        assert_eq!(&t.render("http://h")[..], b"u(/s/a) u(/s/b)");
        let wrong = Swap { times: 3, ..every };
        assert!(Template::new("u(k/a) u(k/b)", &[wrong]).is_err());
    }
}
