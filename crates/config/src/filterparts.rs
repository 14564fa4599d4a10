//! The filter part of a command stream: what fail2ban-regex, the sample
//! test and the fuzz targets apply of a filter (`prefregex`,
//! `addfailregex`, `addignoreregex`, `maxlines`, `datepattern`, plus
//! `usedns`, `logtimezone` and `addjournalmatch` for information).

use serde_json::Value as J;

use crate::Command;

/// The filter part of a command stream, in stream order.
#[derive(Clone, Debug, Default)]
pub struct FilterParts {
    /// The `prefregex` (the last one set).
    pub prefregex: Option<String>,
    /// Every `addfailregex`, in stream order.
    pub failregex: Vec<String>,
    /// Every `addignoreregex`, in stream order.
    pub ignoreregex: Vec<String>,
    /// `maxlines`: lines buffered for multi-line regexes (the first value
    /// wins, as in fail2ban-regex).
    pub maxlines: Option<usize>,
    /// The first `datepattern`.
    pub datepattern: Option<String>,
    /// `usedns` (`yes`, `warn`, `no`, `raw`), for information.
    pub usedns: Option<String>,
    /// `logtimezone`, for information.
    pub logtimezone: Option<String>,
    /// The words of each `addjournalmatch`, for information.
    pub journalmatch: Vec<Vec<String>>,
}

fn json_str(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl FilterParts {
    /// Collect the filter commands of a stream (`set`/`multi-set`).
    pub fn from_stream(stream: &[Command]) -> FilterParts {
        let mut p = FilterParts::default();
        for c in stream {
            let (Some(kind), Some(key)) =
                (c.first().and_then(J::as_str), c.get(2).and_then(J::as_str))
            else {
                continue;
            };
            // `set J key v…` carries values from index 3; `multi-set J key [v…]`
            // a list at index 3.
            let values: Vec<String> = match (kind, c.get(3)) {
                ("multi-set", Some(J::Array(a))) => a.iter().map(json_str).collect(),
                ("set", _) => c[3..].iter().map(json_str).collect(),
                _ => continue,
            };
            match key {
                "prefregex" => p.prefregex = values.into_iter().last(),
                "addfailregex" => p.failregex.extend(values),
                "addignoreregex" => p.ignoreregex.extend(values),
                // fail2ban-regex keeps the first value it is given
                "maxlines" if p.maxlines.is_none() => {
                    p.maxlines = values.first().and_then(|v| v.trim().parse().ok());
                }
                "datepattern" if p.datepattern.is_none() => {
                    p.datepattern = values.into_iter().next();
                }
                "usedns" => p.usedns = values.into_iter().next(),
                "logtimezone" => p.logtimezone = values.into_iter().next(),
                "addjournalmatch" => p.journalmatch.push(values),
                _ => {}
            }
        }
        p
    }
}
