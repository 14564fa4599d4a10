//! Tests of `expr`.

use super::*;

fn ev(src: &str) -> Num {
    Expr::parse(src)
        .unwrap_or_else(|e| panic!("{e}"))
        .eval(&Env::default())
        .unwrap_or_else(|e| panic!("{e}"))
}
fn ev_env(src: &str, time: i64, count: i64, factor: Num) -> f64 {
    Expr::parse(src)
        .unwrap()
        .eval(&Env {
            time: Num::Int(time),
            count: Num::Int(count),
            factor,
        })
        .unwrap()
        .as_f64()
}

#[test]
fn stock_formula() {
    let f = "ban.Time * (1<<(ban.Count if ban.Count<20 else 20)) * banFactor";
    assert_eq!(ev_env(f, 600, 0, Num::Int(1)), 600.0);
    assert_eq!(ev_env(f, 600, 1, Num::Int(1)), 1200.0);
    assert_eq!(ev_env(f, 600, 3, Num::Int(1)), 4800.0);
    assert_eq!(ev_env(f, 600, 25, Num::Int(1)), 600.0 * (1u64 << 20) as f64);
    assert_eq!(ev_env(f, 600, 2, Num::Int(2)), 4800.0);
}

#[test]
fn exp_formula_from_jail_conf() {
    // "more aggressive example": same values as the stock one for
    // factor 2.0 / 2.885385.
    let factor = ev("2.0 / 2.885385");
    let f = "ban.Time * math.exp(float(ban.Count+1)*banFactor)/math.exp(1*banFactor)";
    for c in 0..6 {
        let got = ev_env(f, 600, c, factor);
        let want = 600.0 * 2f64.powi(c as i32);
        assert!(
            (got / want - 1.0).abs() < 1e-3,
            "count {c}: {got} vs {want}"
        );
    }
}

#[test]
fn python_arithmetic_semantics() {
    assert_eq!(ev("7 / 2"), Num::Float(3.5));
    assert_eq!(ev("7 // 2"), Num::Int(3));
    assert_eq!(ev("-7 // 2"), Num::Int(-4));
    assert_eq!(ev("-7 % 3"), Num::Int(2));
    assert_eq!(ev("7 % -3"), Num::Int(-2));
    assert_eq!(ev("-7.5 % 2"), Num::Float(0.5));
    assert_eq!(ev("2 ** 10"), Num::Int(1024));
    assert_eq!(ev("2 ** -1"), Num::Float(0.5));
    assert_eq!(ev("-2 ** 2"), Num::Int(-4));
    assert_eq!(ev("2 ** 3 ** 2"), Num::Int(512));
    assert_eq!(ev("1 << 4 >> 1"), Num::Int(8));
    assert_eq!(ev("1 + 2 << 1"), Num::Int(6), "shift binds looser than +");
    assert_eq!(ev("6 & 3 | 8 ^ 1"), Num::Int(11));
    assert_eq!(ev("~5"), Num::Int(-6));
    assert_eq!(ev("1_000 + 0x10 + 0b11 + 0o7"), Num::Int(1026));
    assert_eq!(ev("1e3 + .5"), Num::Float(1000.5));
    assert_eq!(ev("(1 << 62) * 4"), Num::Float(2f64.powi(64)));
}

#[test]
fn comparisons_and_logic() {
    assert_eq!(ev("1 < 2 < 3"), Num::Int(1));
    assert_eq!(ev("1 < 3 < 2"), Num::Int(0));
    assert_eq!(ev("2 == 2.0"), Num::Int(1));
    assert_eq!(ev("1 != 1"), Num::Int(0));
    assert_eq!(ev("0 or 5"), Num::Int(5));
    assert_eq!(ev("3 and 0"), Num::Int(0));
    assert_eq!(ev("not 0"), Num::Int(1));
    assert_eq!(ev("10 if 1 > 2 else 20 if 0 else 30"), Num::Int(30));
    assert_eq!(ev("True + True"), Num::Int(2));
}

#[test]
fn functions() {
    assert_eq!(ev("min(3, 1.5, 2)"), Num::Float(1.5));
    assert_eq!(ev("max(3, 1.5, 2)"), Num::Int(3));
    assert_eq!(ev("int(2.9)"), Num::Int(2));
    assert_eq!(ev("int(-2.9)"), Num::Int(-2));
    assert_eq!(ev("float(2)"), Num::Float(2.0));
    assert_eq!(ev("round(2.5)"), Num::Int(2));
    assert_eq!(ev("round(3.5)"), Num::Int(4));
    assert_eq!(ev("math.floor(2.5)"), Num::Int(2));
    assert_eq!(ev("math.ceil(2.1)"), Num::Int(3));
    assert_eq!(ev("math.log(8, 2)"), Num::Float(3.0));
    assert_eq!(ev("math.sqrt(16)"), Num::Float(4.0));
    assert_eq!(ev("math.pow(2, 3)"), Num::Float(8.0));
    assert_eq!(ev("abs(-3)"), Num::Int(3));
    assert_eq!(ev("math.log10(1000)"), Num::Float(3.0));
    assert!((ev("math.e").as_f64() - std::f64::consts::E).abs() < 1e-12);
}

#[test]
fn rejects_unsafe_or_unknown() {
    for bad in [
        "__import__('os')",
        "os.system('x')",
        "ban.Time.__class__",
        "open('/etc/passwd')",
        "1 +",
        "(1",
        "1 if 2",
        "x",
        "'str'",
        "[1]",
        "min(1)",
        "ban.Time = 3",
        "1 2",
    ] {
        assert!(Expr::parse(bad).is_err(), "{bad:?} should be rejected");
    }
}

#[test]
fn deep_nesting_is_an_error() {
    assert!(Expr::parse(&format!("{}1{}", "(".repeat(10), ")".repeat(10))).is_ok());
    assert!(Expr::parse(&format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000))).is_err());
    assert!(Expr::parse(&format!("{}1", "-".repeat(10_000))).is_err());
    assert!(Expr::parse(&format!("1{}", " ** 2".repeat(10_000))).is_err());
    assert!(Expr::parse(&format!("1{}", " + 1".repeat(10_000))).is_err());
    assert_eq!(ev(&format!("1{}", " + 1".repeat(100))), Num::Int(101));
}

proptest::proptest! {
    /// Any input parses or fails cleanly, and evaluation never panics.
    #[test]
    fn never_panics(src in "[-+*/%<>=!&|^~().,0-9a-zA-Z_ ]{0,40}|\\PC{0,20}") {
        if let Ok(e) = Expr::parse(&src) {
            let _ = e.eval(&Env { time: Num::Int(600), count: Num::Int(3), factor: Num::Float(1.5) });
        }
    }
}

#[test]
fn eval_errors_are_reported() {
    for bad in [
        "1/0",
        "1//0",
        "1%0",
        "math.log(0)",
        "math.sqrt(-1)",
        "1 << -1",
        "1.5 << 1",
        "math.exp(1000)",
    ] {
        let e = Expr::parse(bad).unwrap();
        assert!(e.eval(&Env::default()).is_err(), "{bad:?} should fail");
    }
}
