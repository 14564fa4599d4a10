//! POSIX shell-like word splitting as Python's `shlex.split` does it; used
//! for `journalmatch` lines.

/// Split `s` into words. `Err` on an unclosed quote or trailing escape.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => return Err("No escaped character".into()),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err("No closing quotation".into()),
                        },
                        Some(n) => cur.push(n),
                        None => return Err("No closing quotation".into()),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            split("_SYSTEMD_UNIT=sshd.service + _COMM=sshd").unwrap(),
            vec!["_SYSTEMD_UNIT=sshd.service", "+", "_COMM=sshd"]
        );
        assert_eq!(
            split(r#"a "b c" 'd e' f\ g "h\"i\x""#).unwrap(),
            vec!["a", "b c", "d e", "f g", "h\"i\\x"]
        );
        assert!(split("'open").is_err());
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split("''").unwrap(), vec![""]);
    }
}
