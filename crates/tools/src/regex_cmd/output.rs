//! Per-failure output: `-o` (ids, rows, matches, tag templates), `--json`
//! lines, and `--print-pcre`.

use super::*;

/// What to print per failure (`-o`).
#[derive(Clone, Debug)]
pub(super) enum OutFmt {
    Id,
    Ip,
    Msg,
    Row,
    Key(String),
    Template(String),
}
pub(super) fn parse_fmt(s: &str) -> OutFmt {
    match s {
        "id" | "fid" => OutFmt::Id,
        "ip" => OutFmt::Ip,
        "msg" => OutFmt::Msg,
        "row" => OutFmt::Row,
        s if s.contains('<') => OutFmt::Template(s.to_string()),
        s => OutFmt::Key(s.to_string()),
    }
}
/// `time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(t))`.
pub(super) fn asctime(t: f64) -> String {
    match jiff::Timestamp::from_second(t.floor() as i64) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%a %b %d %H:%M:%S %Y")
            .to_string(),
        Err(_) => t.to_string(),
    }
}
pub(super) fn id_str(f: &Failure) -> String {
    f.id.as_ref()
        .map(|a| a.to_string())
        .unwrap_or_else(|| "None".into())
}
/// Python `str()` of a data value.
pub(super) fn value_str(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        Value::Addr(a) => a.to_string(),
        Value::Int(i) => i.to_string(),
        other => pyrepr::py_value(other),
    }
}
pub(super) fn emit(fmt: &OutFmt, ret: &[&Failure], out: &mut dyn Write) -> Result<()> {
    match fmt {
        OutFmt::Id => {
            for f in ret {
                writeln!(out, "{}", id_str(f))?;
            }
        }
        OutFmt::Ip => {
            for f in ret {
                match f.data.get("ip") {
                    Some(v) => writeln!(out, "{}", value_str(v))?,
                    None => writeln!(out, "{}", id_str(f))?,
                }
            }
        }
        OutFmt::Msg => {
            for f in ret {
                for m in f.matches() {
                    writeln!(out, "{m}")?;
                }
            }
        }
        OutFmt::Row => {
            for f in ret {
                let id =
                    f.id.as_ref()
                        .map(|a| pyrepr::py_str(&a.to_string()))
                        .unwrap_or_else(|| "None".into());
                let t = f
                    .time
                    .map(pyrepr::py_float)
                    .unwrap_or_else(|| "None".into());
                writeln!(out, "[{id},\t{t},\t{}],", pyrepr::py_data(&f.data))?;
            }
        }
        OutFmt::Key(k) => {
            for f in ret {
                match f.data.get(k) {
                    Some(v) => writeln!(out, "{}", value_str(v))?,
                    None => writeln!(out, "None")?,
                }
            }
        }
        OutFmt::Template(t) => {
            let mut wrapped: Vec<(&Failure, String)> = Vec::new();
            let mut wrap = false;
            for f in ret {
                let v = substitute(t, f, &mut wrap);
                if wrap {
                    wrapped.push((f, v));
                    continue;
                }
                writeln!(out, "{v}")?;
            }
            for (f, v) in wrapped {
                for m in f.matches() {
                    writeln!(out, "{}", v.replace("\u{0}msg\u{0}", m))?;
                }
            }
        }
    }
    Ok(())
}
/// Replace `<tag>`s in an `-o` template (action-style dynamic tags).
pub(super) fn substitute(t: &str, f: &Failure, wrap: &mut bool) -> String {
    gaoler_py::tags::substitute(t, |tag| {
        let esc = |v: String| v.replace('\u{0}', "\\x00");
        match tag {
            "fid" => Some(esc(id_str(f))),
            "ip" => Some(esc(f
                .data
                .get("ip")
                .map(value_str)
                .unwrap_or_else(|| id_str(f)))),
            "time" => Some(
                f.time
                    .map(pyrepr::py_float)
                    .unwrap_or_else(|| "None".into()),
            ),
            "family" => Some(
                f.id.as_ref()
                    .and_then(|a| a.family())
                    .map(|fam| fam.as_str().to_string())
                    .unwrap_or_else(|| "None".into()),
            ),
            "failures" => Some("1".into()),
            "matches" => Some(esc(f.matches().join("\n"))),
            "msg" => {
                if !*wrap && f.matches().len() <= 1 {
                    Some(f.matches().join("\n"))
                } else {
                    *wrap = true;
                    Some("\u{0}msg\u{0}".into())
                }
            }
            t if t.starts_with("F-") => Some(esc(f
                .data
                .get(&t[2..].to_ascii_lowercase())
                .map(value_str)
                .unwrap_or_default())),
            t => f.data.get(t).map(|v| esc(value_str(v))),
        }
    })
}

pub(super) fn failure_json(lineno: usize, line: &str, f: &Failure) -> String {
    let mut fields = serde_json::Map::new();
    for (k, v) in &f.data {
        if k == "matches" {
            continue;
        }
        let j = match v {
            Value::Str(s) => json!(s.as_str()),
            Value::Int(i) => json!(i),
            Value::Addr(a) => json!(a.to_string()),
            Value::Set(s) => json!(s.iter().map(|x| x.as_str()).collect::<Vec<_>>()),
            Value::Lines(l) => json!(l),
            Value::Tuple(t) => json!(t),
        };
        fields.insert(k.to_string(), j);
    }
    json!({
        "line": lineno,
        "id": f.id.as_ref().map(|a| a.to_string()),
        "time": f.time,
        "regex": f.regex_index + 1,
        "fields": fields,
        "text": line,
    })
    .to_string()
}
/// One PCRE2 pattern matching (approximately) what the failregexes match,
/// for `rg -P`: the alternation of the expanded failregexes with their
/// leading `^` removed (rg sees whole lines, dates and prefixes included),
/// duplicate group names allowed.
pub(super) fn combined_pcre(filter: &Filter) -> String {
    let alts: Vec<String> = filter
        .failregex_texts()
        .iter()
        .map(|r| {
            let t = gaoler_matcher::python::translate(r, gaoler_matcher::python::Target::Pcre2)
                .map(|t| t.pattern)
                .unwrap_or_else(|| r.to_string());
            let t = t.strip_prefix('^').unwrap_or(&t).to_string();
            format!("(?:{t})")
        })
        .collect();
    format!("(?J){}", alts.join("|"))
}
