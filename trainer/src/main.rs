//! `odex-train`.
fn main() {}
