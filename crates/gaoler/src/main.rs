//! The `gaoler` binary (work in progress).
fn main() {
    println!("gaoler {}", env!("CARGO_PKG_VERSION"));
}
