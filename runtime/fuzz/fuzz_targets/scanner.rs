//! The scanner's primitives on arbitrary input: skipping values (nesting,
//! strings, escapes), integers and decimals.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odex_runtime::binance::scan::Scanner;

fuzz_target!(|data: &[u8]| {
    let mut sc = Scanner::new(data);
    if let Ok(raw) = sc.raw_value() {
        // a skipped value re-scans to the same bytes
        let mut again = raw.scanner();
        assert!(again.skip_value().is_ok());
        let _ = sc.finish();
    }
    let _ = Scanner::new(data).u64();
    let _ = Scanner::new(data).i64();
    let _ = Scanner::new(data).price();
    let _ = Scanner::new(data).boolean();
});
