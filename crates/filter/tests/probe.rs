use gaoler_filter::*;
#[test]
fn probe() {
    let Ok(jail) = std::env::var("PJAIL") else {
        return;
    };
    let line = std::env::var("PLINE").unwrap();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fail2ban-upstream/golden/dump-all-jails.jsonl"
    ))
    .unwrap();
    let mut spec = FilterSpec {
        check_all_regex: true,
        return_raw_host: true,
        eager_dates: true,
        ..Default::default()
    };
    for l in text.lines() {
        let a: serde_json::Value = serde_json::from_str(l).unwrap();
        if a[1] != jail.as_str() {
            continue;
        }
        match a[2].as_str().unwrap_or("") {
            "addfailregex" => spec.failregex.extend(
                a[3].as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_str().unwrap().to_string()),
            ),
            "prefregex" => spec.prefregex = Some(a[3].as_str().unwrap().to_string()),
            "datepattern" => spec.datepattern = Some(a[3].as_str().unwrap().to_string()),
            "maxlines" => spec.maxlines = a[3].as_u64().unwrap() as usize,
            _ => {}
        }
    }
    eprintln!("datepattern {:?}", spec.datepattern);
    let mut f = Filter::new(spec).unwrap();
    f.date_detector_mut()
        .unwrap()
        .set_local_timezone("CET-01CEST-02,M3.5.0,M10.5.0")
        .unwrap();
    f.date_detector_mut()
        .unwrap()
        .set_reference_year(Some(2026));
    let d = f.date_detector_mut().unwrap().find(&line, 1124013600.0);
    eprintln!("date {:?}", d);
    if let Some(p) = f.prefregex_text() {
        eprintln!("pref {p}");
    }
    for r in f.failregex_texts() {
        eprintln!("re {r}");
    }
    let o = f.process_line_detailed(&line, 1124013600.0);
    eprintln!("{:#?}", o);
}
