//! `-d` / `--dp`: print the configuration stream.
//!
//! `-d` prints one JSON array per line with Python's `json.dumps`
//! separators and ASCII escapes, the form the reference dumps are compared
//! in; `--dp` pretty-prints.

use gaoler_config::reader::ConfigRead;

/// Print the stream of `read`.
pub fn dump(read: &ConfigRead, pretty: bool) {
    for c in &read.stream {
        let words = c.to_json();
        let line = if pretty {
            serde_json::to_string_pretty(&words)
        } else {
            python_style_json(&words)
        };
        match line {
            Ok(l) => println!("{l}"),
            Err(e) => eprintln!("ERROR: {e}"),
        }
    }
}

/// `", "` between items (Python's separator), nothing before the first.
fn separator<W: ?Sized + std::io::Write>(w: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        w.write_all(b", ")
    }
}

/// JSON with Python's `json.dumps` separators (`", "` and `": "`).
pub fn python_style_json(v: &[serde_json::Value]) -> serde_json::Result<String> {
    struct PyFormatter;
    impl serde_json::ser::Formatter for PyFormatter {
        fn begin_array_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            separator(w, first)
        }
        fn begin_object_key<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            first: bool,
        ) -> std::io::Result<()> {
            separator(w, first)
        }
        fn begin_object_value<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
        ) -> std::io::Result<()> {
            w.write_all(b": ")
        }
        // Python's `ensure_ascii`: everything outside ASCII as `\uXXXX`.
        fn write_string_fragment<W: ?Sized + std::io::Write>(
            &mut self,
            w: &mut W,
            fragment: &str,
        ) -> std::io::Result<()> {
            for c in fragment.chars() {
                if c.is_ascii() {
                    w.write_all(&[c as u8])?;
                } else {
                    let mut buf = [0u16; 2];
                    for u in c.encode_utf16(&mut buf) {
                        write!(w, "\\u{u:04x}")?;
                    }
                }
            }
            Ok(())
        }
    }
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PyFormatter);
    serde::Serialize::serialize(&v, &mut ser)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
