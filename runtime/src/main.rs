//! `odex`: the trading runtime's command line.
fn main() {}
