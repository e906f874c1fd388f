//! Links odex-shared into a `#![no_std]`, allocator-free static library.
#![no_std]

use odex_shared::market::Price;
use odex_shared::model_file;

/// Parses a price and decodes a model file: touches the parsing, postcard and
/// model code paths so they are really linked.
#[unsafe(no_mangle)]
pub extern "C" fn odex_nostd_probe(bytes: *const u8, len: usize) -> i64 {
    let _ = (bytes, len);
    let decoded = model_file::decode(b"ODEX").is_ok();
    match Price::parse("25.3519") {
        Ok(p) if !decoded => p.raw(),
        _ => -1,
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
