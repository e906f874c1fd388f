//! The borrowed JSON scanner under every Binance decoder.
//!
//! Binance frames are small flat objects with a fixed vocabulary, so a
//! general JSON parser does more than the hot path needs. [`Scanner`] walks
//! the bytes once, hands out keys and string contents as sub-slices of the
//! input (no copies, no allocation) and reads integers, booleans and decimal
//! strings straight into their final types. Values the caller does not want
//! are skipped with [`Scanner::skip_value`], which checks that brackets
//! balance and strings terminate but does not otherwise validate them.
//!
//! Nothing here panics: every read is bounds-checked and every failure is a
//! [`DecodeError`] that names the problem, the byte offset and, where known,
//! the field.

use core::fmt;

use odex_shared::market::{Amount, DecimalError, Price, Qty};

/// Deepest nesting [`Scanner::skip_value`] follows before refusing.
pub const MAX_DEPTH: u32 = 64;

/// What went wrong while decoding a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended in the middle of a value.
    #[error("unexpected end of input")]
    UnexpectedEnd,
    /// A byte that cannot start or continue the expected token.
    #[error("unexpected byte {:?}", char::from(*.0))]
    UnexpectedByte(u8),
    /// A value of another JSON type than the field needs.
    #[error("expected {0}")]
    Expected(&'static str),
    /// A required field was absent.
    #[error("missing field")]
    MissingField,
    /// An integer that does not fit or has a fraction or exponent.
    #[error("invalid integer")]
    BadInteger,
    /// A decimal string that does not parse into a fixed-point value.
    #[error("invalid decimal: {0}")]
    BadDecimal(DecimalError),
    /// A string field whose value is not one this decoder knows.
    #[error("unknown value")]
    UnknownValue,
    /// Brackets nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Bytes after the end of the top-level value.
    #[error("trailing bytes after the value")]
    TrailingBytes,
    /// A payload of another kind than the decoder handles (an event type
    /// that does not match, a stream name that is not a market stream).
    #[error("not a payload of this kind")]
    WrongKind,
}

/// A decode failure: what, at which byte offset of the frame, in which field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at byte {at}{}", FieldNote(*.field))]
pub struct DecodeError {
    /// What went wrong.
    pub kind: DecodeErrorKind,
    /// Byte offset into the decoded frame.
    pub at: usize,
    /// The JSON field being read, when known.
    pub field: Option<&'static str>,
}

struct FieldNote(Option<&'static str>);

impl fmt::Display for FieldNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(name) => write!(f, " in field {name:?}"),
            None => Ok(()),
        }
    }
}

impl DecodeError {
    /// An error of `kind` at byte `at`, field unknown.
    pub const fn new(kind: DecodeErrorKind, at: usize) -> Self {
        Self { kind, at, field: None }
    }

    /// A missing required field, reported at the end of its object.
    pub const fn missing(field: &'static str, at: usize) -> Self {
        Self { kind: DecodeErrorKind::MissingField, at, field: Some(field) }
    }
}

/// Attaches a field name to errors that do not have one yet.
pub trait InField<T> {
    /// Names `field` in the error, unless an inner field is already named.
    ///
    /// # Errors
    /// The same error, with its field set.
    fn in_field(self, field: &'static str) -> Result<T, DecodeError>;
}

impl<T> InField<T> for Result<T, DecodeError> {
    #[inline]
    fn in_field(self, field: &'static str) -> Result<T, DecodeError> {
        self.map_err(|mut e| {
            if e.field.is_none() {
                e.field = Some(field);
            }
            e
        })
    }
}

/// The contents of a JSON string as it appears between the quotes, borrowed
/// from the frame. Escapes are left as sent (Binance symbols, assets and
/// enum values never contain any).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct JsonStr<'a>(pub &'a [u8]);

impl<'a> JsonStr<'a> {
    /// The raw bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// The text, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.0).ok()
    }

    /// True when the bytes equal `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        self.0 == s.as_bytes()
    }
}

impl fmt::Debug for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) => fmt::Debug::fmt(s, f),
            None => write!(f, "{:?}", self.0),
        }
    }
}

impl fmt::Display for JsonStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        Ok(())
    }
}

/// One JSON value kept as the exact bytes of the frame, to be decoded later.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct RawJson<'a> {
    /// The value's bytes.
    pub bytes: &'a [u8],
    /// Offset of the first byte in the frame, so later errors stay absolute.
    pub offset: usize,
}

impl<'a> RawJson<'a> {
    /// A scanner positioned at the start of this value.
    pub fn scanner(&self) -> Scanner<'a> {
        Scanner { buf: self.bytes, pos: 0, base: self.offset }
    }

    /// True when the value is the literal `null`.
    pub fn is_null(&self) -> bool {
        self.bytes == b"null"
    }
}

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", JsonStr(self.bytes))
    }
}

/// A cursor over one frame.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Added to `pos` in errors, for scanners over a sub-slice of a frame.
    base: usize,
}

#[inline]
const fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0, base: 0 }
    }

    /// Current byte offset in the frame.
    pub const fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The frame's bytes between two absolute offsets (empty if out of range).
    pub fn frame_slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.buf.get(from.saturating_sub(self.base)..to.saturating_sub(self.base)).unwrap_or_default()
    }

    /// Consumes `lit` if the bytes at the position are exactly it (no
    /// whitespace skipped); otherwise consumes nothing.
    #[inline]
    pub fn eat(&mut self, lit: &[u8]) -> bool {
        let end = self.pos.saturating_add(lit.len());
        let hit = self.buf.get(self.pos..end) == Some(lit);
        if hit {
            self.pos = end;
        }
        hit
    }

    /// The bytes up to the next `"`, which is consumed, when none of them is
    /// a backslash or a control byte; otherwise `None`, consuming nothing.
    #[inline]
    pub fn plain_string_rest(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..)?;
        let len = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest.get(len) != Some(&b'"') {
            return None;
        }
        self.pos += len + 1;
        rest.get(..len)
    }

    /// A decimal string's digits up to its closing `"` (consumed), read by
    /// the fast path only; `None` for anything that path does not take.
    #[inline]
    pub fn plain_decimal_rest(&mut self) -> Option<i64> {
        if let Some((v, len)) = self.buf.get(self.pos..).and_then(binance_decimal) {
            self.pos += len;
            return Some(v);
        }
        let start = self.pos;
        let v = self.plain_string_rest().and_then(fast_decimal);
        if v.is_none() {
            self.pos = start;
        }
        v
    }

    /// Moves back to an earlier [`Scanner::offset`] (a fast path that
    /// gave up).
    #[inline]
    pub fn rewind(&mut self, offset: usize) {
        self.pos = offset.saturating_sub(self.base).min(self.buf.len());
    }

    /// An error of `kind` at the current position.
    pub const fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind, self.base + self.pos)
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if !is_ws(b) {
                break;
            }
            self.pos += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    ///
    /// # Errors
    /// [`DecodeErrorKind::UnexpectedEnd`] at the end of input.
    #[inline]
    pub fn peek_token(&mut self) -> Result<u8, DecodeError> {
        self.skip_ws();
        self.peek().ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEnd))
    }

    #[inline]
    fn expect(&mut self, want: u8) -> Result<(), DecodeError> {
        match self.peek_token()? {
            b if b == want => {
                self.pos += 1;
                Ok(())
            }
            b => Err(self.error(DecodeErrorKind::UnexpectedByte(b))),
        }
    }

    /// Consumes the `{` that opens an object.
    ///
    /// # Errors
    /// When the next token is not `{`.
    #[inline]
    pub fn begin_object(&mut self) -> Result<(), DecodeError> {
        match self.peek_token()? {
            b'{' => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.error(DecodeErrorKind::Expected("an object"))),
        }
    }

    /// The next key of the current object, or `None` after its closing `}`.
    /// `first` must start `true` for each object; the scanner keeps it.
    /// The caller must then consume the value.
    ///
    /// # Errors
    /// Malformed separators, keys or an early end of input.
    #[inline]
    pub fn next_key(&mut self, first: &mut bool) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.peek_token()? {
            b'}' => {
                self.pos += 1;
                return Ok(None);
            }
            b',' if !*first => {
                self.pos += 1;
            }
            b'"' if *first => {}
            b => return Err(self.error(DecodeErrorKind::UnexpectedByte(b))),
        }
        *first = false;
        let key = self.string_bytes()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Consumes the `[` that opens an array.
    ///
    /// # Errors
    /// When the next token is not `[`.
    #[inline]
    pub fn begin_array(&mut self) -> Result<(), DecodeError> {
        match self.peek_token()? {
            b'[' => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.error(DecodeErrorKind::Expected("an array"))),
        }
    }

    /// Steps to the next element of the current array: `true` when one
    /// follows (the caller then consumes it), `false` after the closing `]`.
    ///
    /// # Errors
    /// Malformed separators or an early end of input.
    #[inline]
    pub fn next_element(&mut self, first: &mut bool) -> Result<bool, DecodeError> {
        match self.peek_token()? {
            b']' => {
                self.pos += 1;
                Ok(false)
            }
            b',' if !*first => {
                self.pos += 1;
                Ok(true)
            }
            b if *first && b != b',' => {
                *first = false;
                Ok(true)
            }
            b => Err(self.error(DecodeErrorKind::UnexpectedByte(b))),
        }
    }

    /// A string's contents between the quotes, escapes left as sent.
    ///
    /// # Errors
    /// When the next token is not a string, or the string does not end or
    /// contains a raw control byte.
    #[inline]
    pub fn string_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        if self.peek_token()? != b'"' {
            return Err(self.error(DecodeErrorKind::Expected("a string")));
        }
        self.pos += 1;
        let start = self.pos;
        loop {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            // one tight search for the three bytes that matter inside a string
            let Some(i) = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20) else {
                self.pos = self.buf.len();
                return Err(self.error(DecodeErrorKind::UnexpectedEnd));
            };
            self.pos += i;
            match rest.get(i) {
                Some(b'"') => {
                    let s = self.buf.get(start..self.pos).unwrap_or_default();
                    self.pos += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    // the escaped byte cannot end the string
                    self.pos += 2;
                    if self.pos > self.buf.len() {
                        self.pos = self.buf.len();
                        return Err(self.error(DecodeErrorKind::UnexpectedEnd));
                    }
                }
                Some(&b) => return Err(self.error(DecodeErrorKind::UnexpectedByte(b))),
                None => return Err(self.error(DecodeErrorKind::UnexpectedEnd)),
            }
        }
    }

    /// A string as [`JsonStr`].
    ///
    /// # Errors
    /// As [`Scanner::string_bytes`].
    #[inline]
    pub fn string(&mut self) -> Result<JsonStr<'a>, DecodeError> {
        self.string_bytes().map(JsonStr)
    }

    /// A string, or `None` for `null`.
    ///
    /// # Errors
    /// As [`Scanner::string_bytes`].
    pub fn string_or_null(&mut self) -> Result<Option<JsonStr<'a>>, DecodeError> {
        if self.peek_token()? == b'n' {
            self.literal(b"null")?;
            return Ok(None);
        }
        self.string().map(Some)
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), DecodeError> {
        let end = self.pos.saturating_add(word.len());
        match self.buf.get(self.pos..end) {
            Some(got) if got == word => {
                self.pos = end;
                Ok(())
            }
            _ => Err(self.error(DecodeErrorKind::Expected("a literal"))),
        }
    }

    /// `true` or `false`.
    ///
    /// # Errors
    /// Any other token.
    #[inline]
    pub fn boolean(&mut self) -> Result<bool, DecodeError> {
        match self.peek_token()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => Err(self.error(DecodeErrorKind::Expected("a boolean"))),
        }
    }

    /// True (and consumed) when the next token is `null`.
    ///
    /// # Errors
    /// At the end of input, or on a token that starts like `null` but is not.
    pub fn null(&mut self) -> Result<bool, DecodeError> {
        if self.peek_token()? == b'n' {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A non-negative integer literal.
    ///
    /// # Errors
    /// A sign, a fraction, an exponent, no digits or overflow.
    #[inline]
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.skip_ws();
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(&b) = self.buf.get(self.pos) {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
                Some(v) => v,
                None => return Err(DecodeError::new(DecodeErrorKind::BadInteger, self.base + start)),
            };
            self.pos += 1;
        }
        if self.pos == start || matches!(self.peek(), Some(b'.' | b'e' | b'E' | b'-' | b'+')) {
            return Err(DecodeError::new(DecodeErrorKind::BadInteger, self.base + start));
        }
        Ok(v)
    }

    /// A signed integer literal.
    ///
    /// # Errors
    /// A fraction, an exponent, no digits or overflow.
    #[inline]
    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        self.skip_ws();
        let start = self.pos;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.pos += 1;
        }
        let magnitude = self.u64().map_err(|e| DecodeError { at: self.base + start, ..e })?;
        let bad = || DecodeError::new(DecodeErrorKind::BadInteger, self.base + start);
        if negative {
            // -(2^63) is the one magnitude that only fits negated
            0i64.checked_sub_unsigned(magnitude).ok_or_else(bad)
        } else {
            i64::try_from(magnitude).map_err(|_| bad())
        }
    }

    /// A `u32` integer literal.
    ///
    /// # Errors
    /// As [`Scanner::u64`], or a value above `u32::MAX`.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        self.skip_ws();
        let start = self.offset();
        let v = self.u64()?;
        u32::try_from(v).map_err(|_| DecodeError::new(DecodeErrorKind::BadInteger, start))
    }

    /// An `i32` integer literal.
    ///
    /// # Errors
    /// As [`Scanner::i64`], or a value outside `i32`.
    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        self.skip_ws();
        let start = self.offset();
        let v = self.i64()?;
        i32::try_from(v).map_err(|_| DecodeError::new(DecodeErrorKind::BadInteger, start))
    }

    #[inline]
    fn decimal_raw(&mut self) -> Result<(&'a [u8], usize), DecodeError> {
        self.skip_ws();
        let at = self.offset() + 1;
        let s = self.string_bytes()?;
        Ok((s, at))
    }

    #[inline]
    fn decimal(&mut self) -> Result<i64, DecodeError> {
        let (s, at) = self.decimal_raw()?;
        match fast_decimal(s) {
            Some(raw) => Ok(raw),
            None => odex_shared::market::parse_raw(s).map_err(|e| decimal_error(e, at)),
        }
    }

    /// A decimal string (`"25.35190000"`) as a [`Price`].
    ///
    /// # Errors
    /// Not a string, or not a plain decimal with at most eight fractional digits.
    #[inline]
    pub fn price(&mut self) -> Result<Price, DecodeError> {
        self.decimal().map(Price::from_raw)
    }

    /// A decimal string as a [`Qty`].
    ///
    /// # Errors
    /// As [`Scanner::price`].
    #[inline]
    pub fn qty(&mut self) -> Result<Qty, DecodeError> {
        self.decimal().map(Qty::from_raw)
    }

    /// A decimal string as an [`Amount`].
    ///
    /// # Errors
    /// As [`Scanner::price`].
    #[inline]
    pub fn amount(&mut self) -> Result<Amount, DecodeError> {
        self.decimal().map(Amount::from_raw)
    }

    /// Skips one value of any type.
    ///
    /// # Errors
    /// A value that does not start like JSON, an unterminated string,
    /// unbalanced brackets, nesting past [`MAX_DEPTH`] or an early end.
    pub fn skip_value(&mut self) -> Result<(), DecodeError> {
        match self.peek_token()? {
            b'"' => self.string_bytes().map(|_| ()),
            b'{' | b'[' => self.skip_container(),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
                    self.pos += 1;
                }
                let text = self.buf.get(start..self.pos).unwrap_or_default();
                if text.iter().any(u8::is_ascii_digit) {
                    Ok(())
                } else {
                    Err(DecodeError::new(DecodeErrorKind::BadInteger, self.base + start))
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b => Err(self.error(DecodeErrorKind::UnexpectedByte(b))),
        }
    }

    fn skip_container(&mut self) -> Result<(), DecodeError> {
        // one bit per open bracket: 1 for an object, 0 for an array
        let mut stack: u64 = 0;
        let mut depth: u32 = 0;
        loop {
            let b = self.peek().ok_or_else(|| self.error(DecodeErrorKind::UnexpectedEnd))?;
            match b {
                b'"' => {
                    self.string_bytes()?;
                }
                b'{' | b'[' => {
                    if depth == MAX_DEPTH {
                        return Err(self.error(DecodeErrorKind::TooDeep));
                    }
                    stack = (stack << 1) | u64::from(b == b'{');
                    depth += 1;
                    self.pos += 1;
                }
                b'}' | b']' => {
                    let want = if stack & 1 == 1 { b'}' } else { b']' };
                    if depth == 0 || b != want {
                        return Err(self.error(DecodeErrorKind::UnexpectedByte(b)));
                    }
                    stack >>= 1;
                    depth -= 1;
                    self.pos += 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips one value and returns its exact bytes.
    ///
    /// # Errors
    /// As [`Scanner::skip_value`].
    pub fn raw_value(&mut self) -> Result<RawJson<'a>, DecodeError> {
        self.skip_ws();
        let start = self.pos;
        self.skip_value()?;
        Ok(RawJson { bytes: self.buf.get(start..self.pos).unwrap_or_default(), offset: self.base + start })
    }

    /// Checks that only whitespace follows the top-level value.
    ///
    /// # Errors
    /// [`DecodeErrorKind::TrailingBytes`].
    pub fn finish(&mut self) -> Result<(), DecodeError> {
        self.skip_ws();
        if self.pos < self.buf.len() { Err(self.error(DecodeErrorKind::TrailingBytes)) } else { Ok(()) }
    }

    /// Skips the rest of the current object after some of its keys were read.
    ///
    /// # Errors
    /// As [`Scanner::next_key`] and [`Scanner::skip_value`].
    pub fn skip_rest_of_object(&mut self, first: &mut bool) -> Result<(), DecodeError> {
        while self.next_key(first)?.is_some() {
            self.skip_value()?;
        }
        Ok(())
    }
}

/// Powers of ten that pad a fraction of `n` digits to eight.
const PAD: [u64; 9] = [100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/// The common case, `ddd.dddddddd` with at most 10 integer and 8 fraction
/// digits (every Binance price and quantity), without the general
/// parser's per-byte state machine. `None` sends anything else (signs,
/// long inputs, errors) to `shared`'s parser, which decides and explains;
/// the two agree wherever this returns `Some` (a property test checks it).
#[inline]
fn fast_decimal(s: &[u8]) -> Option<i64> {
    let (int_part, frac_part) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (s.get(..dot)?, s.get(dot + 1..)?),
        None => (s, &[][..]),
    };
    if int_part.is_empty()
        || int_part.len() > 10
        || frac_part.len() > 8
        || (frac_part.is_empty() && int_part.len() < s.len())
    {
        return None;
    }
    let int = few_digits(int_part)?;
    let frac = match frac_part.first_chunk::<8>() {
        // Binance always sends eight fractional digits
        Some(&eight) => eight_digits(eight)?,
        None => few_digits(frac_part)?,
    };
    let raw = int * 100_000_000 + frac * PAD.get(frac_part.len())?;
    i64::try_from(raw).ok()
}

/// The exact shape Binance sends, `d{1,10}` `.` `d{8}` `"`, read in one
/// pass at the start of `s` (the string's opening quote already consumed):
/// the value and the bytes taken, closing quote included. The integer
/// digits are read as they are counted; the eight fraction digits in one
/// word ([`eight_digits`]), and the closing quote must follow them, so no
/// search for the string's end is needed. Anything else is `None` (the
/// caller then takes the general path).
#[inline]
fn binance_decimal(s: &[u8]) -> Option<(i64, usize)> {
    let mut int: u64 = 0;
    let mut n = 0;
    while let Some(d) = s.get(n).map(|b| b.wrapping_sub(b'0')).filter(|d| *d <= 9) {
        int = int * 10 + u64::from(d);
        n += 1;
        if n > 10 {
            return None;
        }
    }
    if n == 0 || s.get(n) != Some(&b'.') || s.get(n + 9) != Some(&b'"') {
        return None;
    }
    let frac = eight_digits(*s.get(n + 1..)?.first_chunk::<8>()?)?;
    Some((i64::try_from(int * 100_000_000 + frac).ok()?, n + 10))
}

/// At most ten ASCII digits as a number, one at a time; `None` at any other
/// byte.
#[inline]
fn few_digits(digits: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    Some(v)
}

/// Eight ASCII digits as one number, eight bytes at a time: a check that
/// every byte is `'0'..='9'`, then three multiply-and-shift rounds that join
/// digits into pairs, pairs into fours and fours into eight (the first byte
/// is the most significant digit and sits lowest in the little-endian word).
/// `None` if any byte is not a digit.
#[inline]
fn eight_digits(bytes: [u8; 8]) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let v = u64::from_le_bytes(bytes);
    // digits are 0x30..=0x39: high nibble 3, and still 3 after adding 6
    // (no byte carries into the next: the first test bounds each by 0x3f)
    if v & (0xf0 * ONES) != 0x30 * ONES || v.wrapping_add(0x06 * ONES) & (0xf0 * ONES) != 0x30 * ONES {
        return None;
    }
    let d = v & (0x0f * ONES);
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_ffff_0000_ffff;
    Some((d.wrapping_mul(10_000) + (d >> 32)) & 0xffff_ffff)
}

fn decimal_error(e: DecimalError, string_start: usize) -> DecodeError {
    let at = match e {
        DecimalError::InvalidByte { at, .. } | DecimalError::TooPrecise { at } => string_start + at,
        _ => string_start,
    };
    DecodeError::new(DecodeErrorKind::BadDecimal(e), at)
}

/// The tail of `Iterator::next` for a decoder that walks a JSON array and
/// stops for good at its end or at the first error: `step` is the element
/// read (`None` at the end), `done` the iterator's latch, set unless an
/// element came back. Callers return `None` first when `done` is set.
#[inline]
pub fn fuse<T>(done: &mut bool, step: Result<Option<T>, DecodeError>) -> Option<Result<T, DecodeError>> {
    let item = step.transpose();
    *done = !matches!(item, Some(Ok(_)));
    item
}

/// Reads a required field that was collected as `Option`.
///
/// # Errors
/// [`DecodeErrorKind::MissingField`] naming `field`, at `end`.
#[inline]
pub fn required<T>(value: Option<T>, field: &'static str, end: usize) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::missing(field, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_a_flat_object() {
        let mut sc = Scanner::new(br#" { "a" : 12 , "b":"x\"y", "c":[1,{"d":[]}], "e":-5, "f":true } "#);
        sc.begin_object().unwrap();
        let mut first = true;
        assert_eq!(sc.next_key(&mut first).unwrap(), Some(&b"a"[..]));
        assert_eq!(sc.u64().unwrap(), 12);
        assert_eq!(sc.next_key(&mut first).unwrap(), Some(&b"b"[..]));
        assert_eq!(sc.string().unwrap().as_bytes(), br#"x\"y"#);
        assert_eq!(sc.next_key(&mut first).unwrap(), Some(&b"c"[..]));
        let raw = sc.raw_value().unwrap();
        assert_eq!(raw.bytes, br#"[1,{"d":[]}]"#);
        assert_eq!(raw.offset, 30);
        assert_eq!(sc.next_key(&mut first).unwrap(), Some(&b"e"[..]));
        assert_eq!(sc.i64().unwrap(), -5);
        assert_eq!(sc.next_key(&mut first).unwrap(), Some(&b"f"[..]));
        assert!(sc.boolean().unwrap());
        assert_eq!(sc.next_key(&mut first).unwrap(), None);
        sc.finish().unwrap();
    }

    #[test]
    fn refuses_bad_separators_and_numbers() {
        let mut first = true;
        let mut sc = Scanner::new(br#"{,"a":1}"#);
        sc.begin_object().unwrap();
        assert_eq!(sc.next_key(&mut first).unwrap_err().kind, DecodeErrorKind::UnexpectedByte(b','));
        for bad in [&b"1.5"[..], b"-1", b"", b"99999999999999999999", b"1e3"] {
            assert!(Scanner::new(bad).u64().is_err(), "{bad:?}");
        }
        assert_eq!(Scanner::new(b"-9223372036854775808").i64().unwrap(), i64::MIN);
        assert!(Scanner::new(b"9223372036854775808").i64().is_err());
        assert!(Scanner::new(b"[}").skip_value().is_err());
        assert!(Scanner::new(b"[[[").skip_value().is_err());
        let deep = [b'['; 100];
        assert_eq!(Scanner::new(&deep).skip_value().unwrap_err().kind, DecodeErrorKind::TooDeep);
        assert!(Scanner::new(b"\"abc\\").string().is_err());
    }

    proptest::proptest! {
        #[test]
        fn fast_decimal_agrees_with_the_general_parser(s in "[0-9.]{0,22}|-?[0-9]{1,11}(\\.[0-9]{0,10})?") {
            if let Some(raw) = fast_decimal(s.as_bytes()) {
                proptest::prop_assert_eq!(odex_shared::market::parse_raw(s.as_bytes()), Ok(raw));
            }
        }

        #[test]
        fn binance_decimal_agrees_with_the_general_path(s in "[0-9]{1,11}\\.[0-9]{8}\"|[0-9.]{0,22}\"?x?|-?[0-9]{1,11}(\\.[0-9]{0,10})?\"?,?") {
            let bytes = s.as_bytes();
            if let Some((raw, len)) = binance_decimal(bytes) {
                let mut sc = Scanner::new(bytes);
                let general = sc.plain_string_rest().and_then(fast_decimal);
                proptest::prop_assert_eq!((general, sc.offset()), (Some(raw), len));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn eight_digits_reads_digits_and_refuses_anything_else(
            // mostly digits, so that all eight are often enough, with any byte mixed in
            bytes in proptest::array::uniform8(proptest::prop_oneof![4 => b'0'..=b'9', 1 => proptest::num::u8::ANY])
        ) {
            let want = bytes.iter().try_fold(0u64, |acc, &b| b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0')));
            proptest::prop_assert_eq!(eight_digits(bytes), want);
        }

        #[test]
        fn eight_digits_reads_every_digit_string(n in 0u64..100_000_000) {
            let text = format!("{n:08}");
            proptest::prop_assert_eq!(eight_digits(text.as_bytes().try_into().unwrap()), Some(n));
        }
    }

    #[test]
    fn binance_decimal_takes_the_exact_form_only() {
        assert_eq!(binance_decimal(br#"25.35190000","B""#), Some((2_535_190_000, 12)));
        assert_eq!(binance_decimal(br#"9999999999.99999999""#), Some((999_999_999_999_999_999, 20)));
        for other in [
            &br#"25.3519""#[..],
            br#"25.351900000""#,
            br#"25.35190000"#,
            br#"12345678901.00000000""#,
            b"",
            br#"-1.00000000""#,
            br#".00000000""#,
            br#"1.0000000x""#,
        ] {
            assert_eq!(binance_decimal(other), None, "{:?}", std::str::from_utf8(other));
        }
    }

    #[test]
    fn fast_decimal_takes_binance_strings() {
        assert_eq!(fast_decimal(b"25.35190000"), Some(2_535_190_000));
        assert_eq!(fast_decimal(b"9999999999.99999999"), Some(999_999_999_999_999_999));
        assert_eq!(fast_decimal(b"0"), Some(0));
        for other in [&b"5."[..], b".5", b"", b"1.000000000", b"-1", b"12345678901", b"1e5", b"1.2.3"] {
            assert_eq!(fast_decimal(other), None, "{other:?}");
        }
    }

    #[test]
    fn decimal_errors_point_into_the_frame() {
        let mut sc = Scanner::new(br#"  "1.2x""#);
        let e = sc.price().unwrap_err();
        assert_eq!(e.at, 6);
        assert!(matches!(e.kind, DecodeErrorKind::BadDecimal(_)));
        let e = Err::<(), _>(e).in_field("b").unwrap_err();
        assert_eq!(e.to_string(), "invalid decimal: invalid byte 'x' at offset 3 at byte 6 in field \"b\"");
    }
}
