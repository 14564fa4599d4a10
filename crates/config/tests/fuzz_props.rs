//! Property tests: arbitrary input to the INI reader, interpolation, tag
//! substitution, option lists and time values gives a value or an error —
//! never a panic, never a hang.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gaoler_config::value::Vars;
use gaoler_config::{ini, options, tags, timeval, ConfigSet};
use proptest::prelude::*;

/// Text biased towards the dialect's special characters.
fn ini_text() -> impl Strategy<Value = String> {
    let atoms = prop_oneof![
        Just("[".to_string()),
        Just("]".to_string()),
        Just("[Definition]\n".to_string()),
        Just("[DEFAULT]\n".to_string()),
        Just("[Init?family=inet6]\n".to_string()),
        Just("=".to_string()),
        Just(":".to_string()),
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just(" ;".to_string()),
        Just("#".to_string()),
        Just("%(".to_string()),
        Just(")s".to_string()),
        Just("%%".to_string()),
        Just("<".to_string()),
        Just(">".to_string()),
        Just("known/".to_string()),
        "[a-z]{1,6}".prop_map(|s| s),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(atoms, 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn ini_reader_and_interpolation_never_panic(a in ini_text(), b in ini_text()) {
        let mut files: Vec<(PathBuf, ini::IniFile)> = Vec::new();
        for (i, t) in [a, b].iter().enumerate() {
            if let Ok(f) = ini::parse(t, Path::new(&format!("f{i}.conf"))) {
                files.push((PathBuf::from(format!("f{i}.conf")), f));
            }
        }
        let set = ConfigSet::from_files(files);
        let sections: Vec<String> = set.section_names().map(str::to_string).collect();
        for s in sections.iter().chain(std::iter::once(&"DEFAULT".to_string())) {
            for o in set.own_options(s) {
                let _ = set.get(s, &o, &Vars::new());
                let _ = set.get_ex(s, &format!("known/{o}"), &Vars::new());
            }
        }
    }

    #[test]
    fn option_lists_never_panic(s in ini_text()) {
        let _ = options::extract_options(&s);
        let _ = options::split_with_options(&s);
        let _ = options::split_words(&s);
        let _ = gaoler_config::shlex::split(&s);
    }

    #[test]
    fn time_values_never_panic(s in "[0-9a-z +\\-*/().]{0,30}") {
        let _ = timeval::str2seconds(&s);
    }

    #[test]
    fn tag_substitution_terminates(vals in prop::collection::vec("(<[a-c]>|[a-c]|<|>| ){0,12}", 1..5)) {
        let map: indexmap::IndexMap<String, String> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (["a", "b", "c", "d", "e"][i].to_string(), v.clone()))
            .collect();
        let _ = tags::substitute_recursive_tags(&map, "", &HashSet::new(), |_| Ok(None));
    }
}
