//! odex-runtime
