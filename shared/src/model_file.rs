//! The model file: `magic "ODEX" | version u16 | payload length u32 |
//! postcard(ModelFile) | CRC-32`, integers little-endian, the checksum over
//! everything before it.
//!
//! [`decode`] refuses a short file, a wrong magic, an unknown version, a bad
//! length, a checksum mismatch, an undecodable payload and a payload whose
//! shapes do not fit together, each with its own [`DecodeError`] variant. A
//! committed golden file (`models/golden-v1.odex`) pins the format: change
//! the layout and its test fails, so bump [`FORMAT_VERSION`].

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::checksum::crc32;
use crate::features::{FeatureSpec, FeatureSpecError};
use crate::integrator::Method;
use crate::model::{
    Activation, DiffusionKind, HybridModel, MAX_LAYERS, MAX_PARAMS, MAX_STATE, Physics, Shape, ShapeError,
    dense_param_count,
};
use crate::sizing::SizingParams;

/// The first four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"ODEX";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Magic, version and payload length.
pub const HEADER_LEN: usize = 4 + 2 + 4;
/// The trailing CRC-32.
pub const TRAILER_LEN: usize = 4;
/// An upper bound on the encoded size of any valid model file.
pub const MAX_FILE_LEN: usize = HEADER_LEN + MAX_PARAMS * 8 + 4096 + TRAILER_LEN;

/// Everything about a model except its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// A short name (shown by `odex model inspect`).
    pub name: heapless::String<32>,
    /// The state vector: kinds, smoothing constants, frozen normalisation.
    pub features: FeatureSpec,
    /// One physics term per state dimension.
    pub physics: heapless::Vec<Physics, MAX_STATE>,
    /// Hidden-layer widths of `f_nn` (empty: physics only).
    pub hidden: heapless::Vec<u16, MAX_LAYERS>,
    /// Hidden activation.
    pub activation: Activation,
    /// Diffusion mode.
    pub diffusion: DiffusionKind,
    /// Integrator.
    pub method: Method,
    /// Step, in units of the observation interval the model was trained on.
    pub dt: f64,
    /// Steps per forecast: the horizon is `dt * horizon_steps` intervals.
    pub horizon_steps: u32,
    /// The state dimension whose change over the horizon, de-normalised, is
    /// the predicted log return (a log-price-like feature).
    pub return_dim: u8,
    /// Sizing constants the model was trained with.
    pub sizing: SizingParams,
}

impl ModelSpec {
    /// The layer sizes this spec declares.
    pub fn shape(&self) -> Shape<'_> {
        Shape { dim: self.features.dim(), hidden: &self.hidden, diffusion: self.diffusion }
    }

    /// Checks that every part fits with the others and that `weights` has
    /// the right length.
    ///
    /// # Errors
    /// [`DecodeError::Features`] or [`DecodeError::Shape`] naming the problem.
    pub fn validate(&self, weights: usize) -> Result<(), DecodeError> {
        self.features.validate().map_err(DecodeError::Features)?;
        let shape = self.shape();
        shape.validate().map_err(DecodeError::Shape)?;
        let dim = shape.dim;
        if self.physics.len() != dim {
            return Err(DecodeError::Shape(ShapeError::PerDimension {
                what: "physics",
                expected: dim,
                found: self.physics.len(),
            }));
        }
        if self.physics.iter().any(|p| !p.is_valid()) {
            return Err(DecodeError::Shape(ShapeError::Parameter { what: "physics" }));
        }
        if usize::from(self.return_dim) >= dim {
            return Err(DecodeError::Shape(ShapeError::Dimension {
                what: "return_dim",
                found: usize::from(self.return_dim),
                max: dim - 1,
            }));
        }
        if !(self.dt > 0.0 && self.dt.is_finite()) {
            return Err(DecodeError::Shape(ShapeError::Parameter { what: "dt" }));
        }
        if self.horizon_steps == 0 {
            return Err(DecodeError::Shape(ShapeError::Parameter { what: "horizon_steps" }));
        }
        if let Some(what) = self.sizing.invalid_field() {
            return Err(DecodeError::Shape(ShapeError::Parameter { what }));
        }
        let expected = shape.param_count();
        if weights != expected {
            return Err(DecodeError::Shape(ShapeError::WeightCount { expected, found: weights }));
        }
        Ok(())
    }
}

/// A complete model: spec and weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Sizes, features, physics, integrator and sizing.
    pub spec: ModelSpec,
    /// The MLP layers in `nn.Linear` order (weight rows, then bias), then the
    /// neural diffusion layer if any.
    pub weights: heapless::Vec<f64, MAX_PARAMS>,
}

impl ModelFile {
    /// Builds the runnable model.
    ///
    /// # Errors
    /// [`ShapeError`] if the spec and weights do not fit (never for a file
    /// that [`decode`] accepted).
    pub fn build(&self) -> Result<HybridModel, ShapeError> {
        let s = &self.spec;
        HybridModel::new(s.shape(), &s.physics, s.activation, s.method, s.dt, s.horizon_steps as usize, &self.weights)
    }

    /// The same model with its neural residual silenced: the MLP's output
    /// layer is zeroed, so `f_nn = 0` exactly and the drift is the physics
    /// prior alone, with the parameters fitted beside the network. Features,
    /// diffusion and sizing are unchanged. A backtest's physics-only
    /// baseline.
    #[must_use]
    pub fn physics_only(&self) -> Self {
        let mut out = self.clone();
        let dim = self.spec.features.dim();
        if let Some(&last) = self.spec.hidden.last() {
            let mlp = Shape { dim, hidden: &self.spec.hidden, diffusion: DiffusionKind::None }.param_count();
            let output_layer = dense_param_count(usize::from(last), dim);
            for w in out.weights.iter_mut().take(mlp).skip(mlp.saturating_sub(output_layer)) {
                *w = 0.0;
            }
        }
        out
    }
}

/// Why a model file could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small; [`MAX_FILE_LEN`] always suffices.
    BufferTooSmall,
    /// The model itself is invalid (it would not decode).
    Invalid(DecodeError),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall => f.write_str("output buffer too small for the model file"),
            Self::Invalid(e) => write!(f, "model is invalid: {e}"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Why a model file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The file ends before the part being read.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// The first four bytes are not `ODEX`.
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// A format version this build does not read.
    UnsupportedVersion {
        /// Version in the file.
        found: u16,
        /// Version this build reads.
        supported: u16,
    },
    /// Bytes after the checksum.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// The stored CRC-32 does not match the content.
    Checksum {
        /// Stored in the file.
        stored: u32,
        /// Computed from the content.
        computed: u32,
    },
    /// The checksum matched but the payload does not decode.
    Payload,
    /// The feature spec is invalid.
    Features(FeatureSpecError),
    /// Sizes, weights or parameters do not fit together.
    Shape(ShapeError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, found } => {
                write!(f, "truncated model file: needs {needed} bytes, has {found}")
            }
            Self::BadMagic { found } => write!(f, "not an odex model file (magic {found:02x?}, expected \"ODEX\")"),
            Self::UnsupportedVersion { found, supported } => {
                write!(f, "model file format version {found} is not supported (this build reads version {supported})")
            }
            Self::TrailingBytes { extra } => write!(f, "{extra} unexpected bytes after the model file's checksum"),
            Self::Checksum { stored, computed } => write!(
                f,
                "model file checksum mismatch (stored {stored:08x}, computed {computed:08x}): the file is corrupt"
            ),
            Self::Payload => {
                f.write_str("model file payload does not decode (checksum matched: written by an incompatible build?)")
            }
            Self::Features(e) => write!(f, "model file features: {e}"),
            Self::Shape(e) => write!(f, "model file shape: {e}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Writes `model` into `out` and returns the file length.
///
/// # Errors
/// [`EncodeError::Invalid`] for a model that would not decode,
/// [`EncodeError::BufferTooSmall`] if `out` is too short.
pub fn encode(model: &ModelFile, out: &mut [u8]) -> Result<usize, EncodeError> {
    model.spec.validate(model.weights.len()).map_err(EncodeError::Invalid)?;
    let (header, rest) = out.split_at_mut_checked(HEADER_LEN).ok_or(EncodeError::BufferTooSmall)?;
    let payload_len = postcard::to_slice(model, rest).map_err(|_| EncodeError::BufferTooSmall)?.len();
    let len_field = u32::try_from(payload_len).map_err(|_| EncodeError::BufferTooSmall)?;
    header.copy_from_slice(&{
        let mut h = [0u8; HEADER_LEN];
        let (m, r) = h.split_at_mut(4);
        m.copy_from_slice(&MAGIC);
        let (v, l) = r.split_at_mut(2);
        v.copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        l.copy_from_slice(&len_field.to_le_bytes());
        h
    });
    let body_len = HEADER_LEN + payload_len;
    let crc = crc32(out.get(..body_len).ok_or(EncodeError::BufferTooSmall)?);
    out.get_mut(body_len..body_len + TRAILER_LEN)
        .ok_or(EncodeError::BufferTooSmall)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(body_len + TRAILER_LEN)
}

fn le_u16(b: &[u8]) -> u16 {
    let mut a = [0u8; 2];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u16::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u32::from_le_bytes(a)
}

/// Reads and validates a model file.
///
/// # Errors
/// One [`DecodeError`] variant per kind of damage.
pub fn decode(bytes: &[u8]) -> Result<ModelFile, DecodeError> {
    let truncated = |needed: usize| DecodeError::Truncated { needed, found: bytes.len() };
    let magic = bytes.get(..4).ok_or(truncated(HEADER_LEN))?;
    if magic != MAGIC {
        let mut found = [0u8; 4];
        found.copy_from_slice(magic);
        return Err(DecodeError::BadMagic { found });
    }
    let header = bytes.get(..HEADER_LEN).ok_or(truncated(HEADER_LEN))?;
    let version = le_u16(header.get(4..6).unwrap_or(&[]));
    if version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion { found: version, supported: FORMAT_VERSION });
    }
    let payload_len = le_u32(header.get(6..10).unwrap_or(&[])) as usize;
    let body_len = HEADER_LEN.saturating_add(payload_len);
    let total = body_len.saturating_add(TRAILER_LEN);
    let body = bytes.get(..body_len).ok_or(truncated(total))?;
    let stored = le_u32(bytes.get(body_len..total).ok_or(truncated(total))?);
    if bytes.len() > total {
        return Err(DecodeError::TrailingBytes { extra: bytes.len() - total });
    }
    let computed = crc32(body);
    if stored != computed {
        return Err(DecodeError::Checksum { stored, computed });
    }
    let payload = body.get(HEADER_LEN..).unwrap_or(&[]);
    let (model, rest): (ModelFile, _) = postcard::take_from_bytes(payload).map_err(|_| DecodeError::Payload)?;
    if !rest.is_empty() {
        return Err(DecodeError::Payload);
    }
    model.spec.validate(model.weights.len())?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::FeatureKind;

    /// The model pinned by the golden file: every enum variant that matters
    /// and deterministic weights.
    pub(crate) fn golden_model() -> ModelFile {
        let mut features = FeatureSpec::new(
            &[FeatureKind::EwmaDeviation, FeatureKind::LogReturn, FeatureKind::EwmaVolatility, FeatureKind::Imbalance],
            0.05,
            0.02,
        )
        .unwrap();
        features.mean = heapless::Vec::from_slice(&[0.0, 1e-5, 0.001, 0.0]).unwrap();
        features.std = heapless::Vec::from_slice(&[0.002, 0.001, 0.0005, 0.3]).unwrap();
        features.warmup = 50;
        let spec = ModelSpec {
            name: heapless::String::try_from("golden-v1").unwrap(),
            features,
            physics: heapless::Vec::from_slice(&[
                Physics::OrnsteinUhlenbeck { kappa: 0.5, mu: 0.0, sigma: 0.3 },
                Physics::None,
                Physics::VolatilityReversion { kappa: 0.1, theta: 0.0, xi: 0.05 },
                Physics::GbmDrift { mu: 0.0, sigma: 0.01 },
            ])
            .unwrap(),
            hidden: heapless::Vec::from_slice(&[32, 32]).unwrap(),
            activation: Activation::PadeTanh,
            diffusion: DiffusionKind::Neural,
            method: Method::Rk4,
            dt: 0.5,
            horizon_steps: 2,
            return_dim: 0,
            sizing: SizingParams { kelly_fraction: 0.25, vol_target: 0.01, max_leverage: 1.0, min_edge: 0.0005 },
        };
        let n = spec.shape().param_count();
        let weights =
            (0..n).map(|i| ((i as f64) * 0.618_033_988_749).sin() * 0.1).collect::<heapless::Vec<f64, MAX_PARAMS>>();
        ModelFile { spec, weights }
    }

    fn encoded(m: &ModelFile) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_FILE_LEN];
        let n = encode(m, &mut buf).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn physics_only_is_the_prior_alone() {
        let m = golden_model();
        let p = m.physics_only();
        // the same priors and diffusion layer with no network at all
        let mut bare = m.clone();
        bare.spec.hidden.clear();
        let diffusion_params = m.weights.len() - 4 * 32 - 32 - 32 * 32 - 32 - 32 * 4 - 4;
        assert_eq!(diffusion_params, 4 * 4 + 4);
        bare.weights = heapless::Vec::from_slice(&m.weights[m.weights.len() - diffusion_params..]).unwrap();
        let x0 = [0.3, -0.2, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0];
        let x0: crate::model::State = core::array::from_fn(|i| x0.get(i).copied().unwrap_or(0.0));
        let (hybrid, prior, none) = (m.build().unwrap(), p.build().unwrap(), bare.build().unwrap());
        assert_eq!(prior.forecast(&x0), none.forecast(&x0));
        assert_ne!(hybrid.forecast(&x0).end, prior.forecast(&x0).end);
        assert!(decode(&encoded(&p)).is_ok());
    }

    const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/golden-v1.odex");

    #[test]
    fn golden_file_pins_the_format() {
        let bytes = encoded(&golden_model());
        if std::env::var_os("ODEX_BLESS").is_some() {
            std::fs::write(GOLDEN_PATH, &bytes).unwrap();
        }
        let golden = std::fs::read(GOLDEN_PATH)
            .expect("models/golden-v1.odex is missing: run `ODEX_BLESS=1 cargo test -p odex-shared golden` once");
        assert_eq!(bytes, golden, "encoding changed: bump FORMAT_VERSION and bless a new golden file");
        assert_eq!(decode(&golden).unwrap(), golden_model());
    }

    #[test]
    fn round_trips_and_builds() {
        let m = golden_model();
        let back = decode(&encoded(&m)).unwrap();
        assert_eq!(back, m);
        let model = back.build().unwrap();
        assert_eq!(model.dim(), 4);
    }

    #[test]
    fn every_kind_of_damage_has_its_own_error() {
        let good = encoded(&golden_model());
        // truncated anywhere
        for cut in [0, 3, 9, HEADER_LEN + 10, good.len() - 1] {
            assert!(
                matches!(decode(&good[..cut]), Err(DecodeError::Truncated { .. })),
                "cut at {cut}: {:?}",
                decode(&good[..cut])
            );
        }
        let mut bad = good.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad), Err(DecodeError::BadMagic { found: *b"XDEX" }));
        let mut bad = good.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(DecodeError::UnsupportedVersion { found: 9, supported: 1 }));
        let mut bad = good.clone();
        bad[HEADER_LEN + 20] ^= 0x40;
        assert!(matches!(decode(&bad), Err(DecodeError::Checksum { .. })));
        let mut bad = good.clone();
        bad.push(0);
        assert_eq!(decode(&bad), Err(DecodeError::TrailingBytes { extra: 1 }));
        // a payload that is not a ModelFile, with a valid checksum
        let mut bad = good[..HEADER_LEN].to_vec();
        bad[6..10].copy_from_slice(&3u32.to_le_bytes());
        bad.extend_from_slice(&[1, 2, 3]);
        let crc = crc32(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&bad), Err(DecodeError::Payload));
    }

    /// Re-encodes a damaged spec with a valid checksum, bypassing `encode`'s
    /// own validation, so `decode` must catch it.
    fn forge(m: &ModelFile) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_FILE_LEN];
        let payload = postcard::to_slice(m, &mut buf[HEADER_LEN..]).unwrap().len();
        buf[..4].copy_from_slice(&MAGIC);
        buf[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        buf[6..10].copy_from_slice(&(payload as u32).to_le_bytes());
        let body = HEADER_LEN + payload;
        let crc = crc32(&buf[..body]);
        buf[body..body + 4].copy_from_slice(&crc.to_le_bytes());
        buf.truncate(body + 4);
        buf
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let mut m = golden_model();
        m.weights.pop();
        let n = m.spec.shape().param_count();
        assert_eq!(decode(&forge(&m)), Err(DecodeError::Shape(ShapeError::WeightCount { expected: n, found: n - 1 })));
        assert!(matches!(encode(&m, &mut [0u8; 16]), Err(EncodeError::Invalid(_))));

        let mut m = golden_model();
        m.spec.physics.pop();
        assert!(matches!(
            decode(&forge(&m)),
            Err(DecodeError::Shape(ShapeError::PerDimension { what: "physics", .. }))
        ));

        let mut m = golden_model();
        m.spec.return_dim = 4;
        assert!(matches!(
            decode(&forge(&m)),
            Err(DecodeError::Shape(ShapeError::Dimension { what: "return_dim", .. }))
        ));

        let mut m = golden_model();
        m.spec.features.std[1] = -1.0;
        assert_eq!(decode(&forge(&m)), Err(DecodeError::Features(FeatureSpecError::Parameter("std"))));

        let mut m = golden_model();
        m.spec.sizing.kelly_fraction = 2.0;
        assert_eq!(decode(&forge(&m)), Err(DecodeError::Shape(ShapeError::Parameter { what: "kelly_fraction" })));
    }

    #[test]
    fn errors_read_well() {
        let e = DecodeError::Checksum { stored: 1, computed: 2 };
        assert!(e.to_string().contains("corrupt"));
        let e = DecodeError::UnsupportedVersion { found: 3, supported: 1 };
        assert!(e.to_string().contains("version 3"));
    }
}
