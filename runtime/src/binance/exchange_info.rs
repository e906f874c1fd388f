//! `exchangeInfo` (cold path): per-symbol trading filters.
