#[test]
fn lits() {
    let Ok(jail) = std::env::var("PJAIL") else {
        return;
    };
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fail2ban-upstream/golden/dump-all-jails.jsonl"
    ))
    .unwrap();
    for l in text.lines() {
        let a: serde_json::Value = serde_json::from_str(l).unwrap();
        if a[1] != jail.as_str() {
            continue;
        }
        let v: Vec<String> = match a[2].as_str().unwrap_or("") {
            "addfailregex" => a[3]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect(),
            "prefregex" => vec![a[3].as_str().unwrap().to_string()],
            _ => continue,
        };
        for r in v {
            let t = gaoler_filter::resolve_tags(&r, gaoler_filter::UseDns::Warn);
            let l = gaoler_matcher::literals::required_literals(&t, false, false);
            eprintln!(
                "{:?}\n    <- {}",
                l.map(|v| v
                    .into_iter()
                    .map(|x| (String::from_utf8_lossy(&x.text).to_string(), x.ci))
                    .collect::<Vec<_>>()),
                &r[..r.len().min(100)]
            );
        }
    }
}
