//! odex-trainer: placeholder crate root, replaced as the trainer lands.
