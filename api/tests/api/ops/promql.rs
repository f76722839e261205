//! Just enough PromQL reading to list the metric names an expression selects.
//!
//! What is not a metric name is dropped: string literals, label matchers (`{...}`), range
//! and subquery brackets (`[5m]`, `[$__rate_interval]`), numbers and durations, Grafana
//! variables (`$var`), function and aggregation names (an identifier followed by `(`, or
//! by `by`/`without`),
//! operator keywords, and the label lists of `by`/`without`/`on`/`ignoring`/`group_left`/
//! `group_right`. What is left are the selectors' metric names, exactly as written (a
//! histogram is queried as `..._bucket`, which is also how the exporter renders it).

use std::collections::BTreeSet;

/// Keywords that take a parenthesised list of label names.
const LABEL_LIST_KEYWORDS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Keywords and literals that are neither metrics nor functions.
const KEYWORDS: [&str; 7] = ["and", "or", "unless", "bool", "offset", "inf", "nan"];

/// The metric names selected by `expr`.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_past(&chars, i, '}'),
            '[' => i = skip_past(&chars, i, ']'),
            '#' => i = skip_past(&chars, i, '\n'),
            '$' => i = skip_word(&chars, i + 1),
            c if c.is_ascii_digit() || (c == '.' && next_is_digit(&chars, i)) => {
                i = skip_word(&chars, i)
            }
            c if is_word_start(c) => {
                let end = skip_word(&chars, i);
                let word: String = chars[i..end].iter().collect();
                let after = skip_space(&chars, end);
                // `f(...)`, and aggregations written `sum by (le) (...)`.
                let next_word: String = chars[after..skip_word(&chars, after)].iter().collect();
                let call = chars.get(after) == Some(&'(')
                    || matches!(next_word.as_str(), "by" | "without");
                i = end;
                if LABEL_LIST_KEYWORDS.contains(&word.as_str()) {
                    if call {
                        i = skip_past(&chars, after, ')');
                    }
                } else if !call && !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn next_is_digit(chars: &[char], i: usize) -> bool {
    chars.get(i + 1).is_some_and(char::is_ascii_digit)
}

/// Index after the identifier-like run (also numbers and durations: `5m`, `1e3`, `0.5`)
/// starting at `i`.
fn skip_word(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && (is_word_char(chars[i]) || chars[i] == '.') {
        i += 1;
    }
    i
}

fn skip_space(chars: &[char], mut i: usize) -> usize {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Index after the string literal opening at `i` (backslash escapes honoured, except in
/// raw backtick strings).
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if quote != '`' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// Index after the first `close` following `i`, skipping string literals on the way
/// (a `}` inside a label value does not end the matcher).
fn skip_past(chars: &[char], i: usize, close: char) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '"' | '\'' | '`' if close != '\n' => j = skip_string(chars, j),
            c if c == close => return j + 1,
            _ => j += 1,
        }
    }
    j
}

#[cfg(test)]
mod tests {
    use super::metric_names;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn functions_labels_ranges_and_grafana_variables_are_not_metrics() {
        let expr = r#"histogram_quantile(0.99, sum by (le, route) (rate(http_seconds_bucket{route!~"/l/.+|{x}", status="5xx"}[$__rate_interval])))"#;
        assert_eq!(names(expr), ["http_seconds_bucket"]);
    }

    #[test]
    fn both_sides_of_binary_operators_and_trailing_by_clauses_are_read() {
        let expr =
            "sum(rate(a_total[5m])) by (queue) / ignoring(x) group_left sum(b_total offset 1h) \
                    > 64 * 1024 and on (job) up{job=~\"cb-.+\"} == bool 0 or absent(c_gauge)";
        assert_eq!(names(expr), ["a_total", "b_total", "c_gauge", "up"]);
    }

    #[test]
    fn a_misspelt_name_is_read_as_written() {
        assert_eq!(
            names("max(cloudbridge_queue_dpeth) > 1e3"),
            ["cloudbridge_queue_dpeth"]
        );
    }
}
