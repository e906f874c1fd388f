//! `odex`.
fn main() {}
