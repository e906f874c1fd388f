//! The append-only journal of intents, acks and fills, and its recovery.
//!
//! Record framing: `length u32 LE | CRC-32 u32 LE of the payload | payload`.
//! The payload is a small fixed binary layout (tag byte, then little-endian
//! fields; see [`JournalRecord`]), at most [`MAX_PAYLOAD`] bytes.
//!
//! The hot path only [`JournalRing::push`]es encoded records into a byte
//! ring preallocated from `runtime.journal_ring_records`; the event loop
//! calls [`JournalWriter::flush`] when idle, which writes the ring to the
//! file and fsyncs per the configured [`FsyncPolicy`]. On start,
//! [`recover`] reads records up to the first torn or corrupt one, says where
//! and why it stopped, truncates the tail, and hands the records to the
//! engine to replay (rebuilding open orders and positions).
//!
//! A record pushed but not yet flushed is lost by a crash: the start-up
//! reconciliation with the exchange (`openOrders.status`, `account.status`)
//! covers that window.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use odex_shared::checksum::crc32;
use odex_shared::market::{Amount, Nanos, Price, Qty, Side};

use crate::config::FsyncPolicy;
use crate::engine::journal_map::Mapped;
use crate::engine::order_manager::RequestKind;
use crate::order::{
    ClientOrderId, ExecType, ExecutionReport, OrderRequest, OrderStatus, OrderType, SymbolId, TimeInForce,
};

/// Largest payload of one record.
pub const MAX_PAYLOAD: usize = 192;
/// Length and CRC.
pub const HEADER_LEN: usize = 8;
/// Largest framed record.
pub const MAX_RECORD: usize = HEADER_LEN + MAX_PAYLOAD;

/// One journal record: what the engine sent or heard about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalRecord {
    /// An order was sent (tag 1).
    Place {
        /// The request.
        req: OrderRequest,
        /// Clock time.
        time: Nanos,
    },
    /// A cancel was sent (tag 2).
    Cancel {
        /// Symbol.
        symbol: SymbolId,
        /// The order.
        client_id: ClientOrderId,
        /// Clock time.
        time: Nanos,
    },
    /// An executionReport or place response (tag 3).
    Report(ExecutionReport),
    /// An `order.status` answer (tag 4).
    Status(ExecutionReport),
    /// A request failed (tag 5).
    RequestFailed {
        /// Symbol.
        symbol: SymbolId,
        /// The order.
        client_id: ClientOrderId,
        /// Which request.
        request: RequestKind,
        /// 5xx / timeout (`true`) or a definite refusal.
        unknown: bool,
        /// Clock time.
        time: Nanos,
    },
}

const SIDES: [Side; 2] = [Side::Buy, Side::Sell];
const TYPES: [OrderType; 3] = [OrderType::Limit, OrderType::Market, OrderType::LimitMaker];
const TIFS: [TimeInForce; 3] = [TimeInForce::Gtc, TimeInForce::Ioc, TimeInForce::Fok];
const EXECS: [ExecType; 7] = [
    ExecType::New,
    ExecType::Canceled,
    ExecType::Replaced,
    ExecType::Rejected,
    ExecType::Trade,
    ExecType::Expired,
    ExecType::TradePrevention,
];
const STATUSES: [OrderStatus; 8] = [
    OrderStatus::New,
    OrderStatus::PartiallyFilled,
    OrderStatus::Filled,
    OrderStatus::Canceled,
    OrderStatus::PendingCancel,
    OrderStatus::Rejected,
    OrderStatus::Expired,
    OrderStatus::ExpiredInMatch,
];
const REQUESTS: [RequestKind; 3] = [RequestKind::Place, RequestKind::Cancel, RequestKind::Query];

fn code<T: PartialEq + Copy>(table: &[T], v: T) -> u8 {
    table.iter().position(|x| *x == v).map_or(u8::MAX, |i| i as u8)
}

fn lookup<T: Copy>(table: &[T], c: u8) -> Option<T> {
    table.get(usize::from(c)).copied()
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
    ok: bool,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        match self.buf.get_mut(self.at..self.at + b.len()) {
            Some(d) => {
                d.copy_from_slice(b);
                self.at += b.len();
            }
            None => self.ok = false,
        }
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }
    fn id(&mut self, id: &ClientOrderId) {
        let b = id.as_bytes();
        self.u8(b.len() as u8);
        let mut fixed = [0u8; 36];
        fixed.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
        self.bytes(&fixed);
    }
    fn report(&mut self, r: &ExecutionReport) {
        self.u16(r.symbol.0);
        self.id(&r.client_id);
        self.u64(r.order_id);
        self.u8(code(&SIDES, r.side));
        self.u8(code(&TYPES, r.kind));
        self.u8(code(&EXECS, r.exec_type));
        self.u8(code(&STATUSES, r.status));
        for v in [
            r.qty.raw(),
            r.price.raw(),
            r.last_qty.raw(),
            r.last_price.raw(),
            r.cum_qty.raw(),
            r.cum_quote.raw(),
            r.commission.raw(),
        ] {
            self.i64(v);
        }
        self.u8(u8::from(r.fee_in_base) | (u8::from(r.maker) << 1));
        self.u64(r.trade_id);
        self.u64(r.time.0);
        self.i32(r.reject_code);
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.buf.get(self.at..self.at + N)?;
        self.at += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_le_bytes)
    }
    fn id(&mut self) -> Option<ClientOrderId> {
        let len = usize::from(self.u8()?);
        let fixed: [u8; 36] = self.take()?;
        ClientOrderId::new(fixed.get(..len)?).ok()
    }
    fn report(&mut self) -> Option<ExecutionReport> {
        let symbol = SymbolId(self.u16()?);
        let client_id = self.id()?;
        let order_id = self.u64()?;
        let side = lookup(&SIDES, self.u8()?)?;
        let kind = lookup(&TYPES, self.u8()?)?;
        let exec_type = lookup(&EXECS, self.u8()?)?;
        let status = lookup(&STATUSES, self.u8()?)?;
        let mut v = [0i64; 7];
        for x in &mut v {
            *x = self.i64()?;
        }
        let [qty, price, last_qty, last_price, cum_qty, cum_quote, commission] = v;
        let flags = self.u8()?;
        Some(ExecutionReport {
            symbol,
            client_id,
            order_id,
            side,
            kind,
            exec_type,
            status,
            qty: Qty::from_raw(qty),
            price: Price::from_raw(price),
            last_qty: Qty::from_raw(last_qty),
            last_price: Price::from_raw(last_price),
            cum_qty: Qty::from_raw(cum_qty),
            cum_quote: Amount::from_raw(cum_quote),
            commission: Amount::from_raw(commission),
            fee_in_base: flags & 1 != 0,
            maker: flags & 2 != 0,
            trade_id: self.u64()?,
            time: Nanos(self.u64()?),
            reject_code: self.i32()?,
        })
    }
}

impl JournalRecord {
    /// Writes the payload into `out`; returns its length (`None` if `out`
    /// is too short; [`MAX_PAYLOAD`] always suffices).
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Writer { buf: out, at: 0, ok: true };
        match self {
            Self::Place { req, time } => {
                w.u8(1);
                w.u16(req.symbol.0);
                w.id(&req.client_id);
                w.u8(code(&SIDES, req.side));
                w.u8(code(&TYPES, req.kind));
                w.u8(req.time_in_force.map_or(u8::MAX, |t| code(&TIFS, t)));
                w.u8(u8::from(req.price.is_some()));
                w.i64(req.price.map_or(0, Price::raw));
                w.i64(req.qty.raw());
                w.u64(time.0);
            }
            Self::Cancel { symbol, client_id, time } => {
                w.u8(2);
                w.u16(symbol.0);
                w.id(client_id);
                w.u64(time.0);
            }
            Self::Report(r) => {
                w.u8(3);
                w.report(r);
            }
            Self::Status(r) => {
                w.u8(4);
                w.report(r);
            }
            Self::RequestFailed { symbol, client_id, request, unknown, time } => {
                w.u8(5);
                w.u16(symbol.0);
                w.id(client_id);
                w.u8(code(&REQUESTS, *request));
                w.u8(u8::from(*unknown));
                w.u64(time.0);
            }
        }
        w.ok.then_some(w.at)
    }

    /// Reads a payload; `None` when it is not a valid record.
    pub fn decode(payload: &[u8]) -> Option<Self> {
        let mut r = Reader { buf: payload, at: 0 };
        let rec = match r.u8()? {
            1 => {
                let symbol = SymbolId(r.u16()?);
                let client_id = r.id()?;
                let side = lookup(&SIDES, r.u8()?)?;
                let kind = lookup(&TYPES, r.u8()?)?;
                let tif = r.u8()?;
                let time_in_force = if tif == u8::MAX { None } else { Some(lookup(&TIFS, tif)?) };
                let has_price = r.u8()? != 0;
                let price = r.i64()?;
                let qty = Qty::from_raw(r.i64()?);
                let time = Nanos(r.u64()?);
                let price = has_price.then_some(Price::from_raw(price));
                Self::Place { req: OrderRequest { symbol, client_id, side, kind, time_in_force, price, qty }, time }
            }
            2 => Self::Cancel { symbol: SymbolId(r.u16()?), client_id: r.id()?, time: Nanos(r.u64()?) },
            3 => Self::Report(r.report()?),
            4 => Self::Status(r.report()?),
            5 => Self::RequestFailed {
                symbol: SymbolId(r.u16()?),
                client_id: r.id()?,
                request: lookup(&REQUESTS, r.u8()?)?,
                unknown: r.u8()? != 0,
                time: Nanos(r.u64()?),
            },
            _ => return None,
        };
        (r.at == payload.len()).then_some(rec)
    }

    /// Frames the record (`len | crc | payload`) into `out`; returns the
    /// framed length.
    pub fn frame(&self, out: &mut [u8; MAX_RECORD]) -> Option<usize> {
        let (head, body) = out.split_at_mut(HEADER_LEN);
        let n = self.encode(body)?;
        let payload = body.get(..n)?;
        let crc = crc32(payload);
        let (len_field, crc_field) = head.split_at_mut(4);
        len_field.copy_from_slice(&(n as u32).to_le_bytes());
        crc_field.copy_from_slice(&crc.to_le_bytes());
        Some(HEADER_LEN + n)
    }
}

/// The journal ring has no room for a record until the next flush.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("journal ring full")]
pub struct RingFull;

/// The hot path's side of the journal: framed records in a byte buffer
/// allocated once; pushing never allocates.
#[derive(Debug)]
pub struct JournalRing {
    buf: Vec<u8>,
    cap: usize,
    pushed: u64,
    dropped: u64,
}

impl JournalRing {
    /// A ring with room for `records` records of the largest size.
    pub fn new(records: usize) -> Self {
        let cap = records.max(1).saturating_mul(MAX_RECORD);
        Self { buf: Vec::with_capacity(cap), cap, pushed: 0, dropped: 0 }
    }

    /// True when `records` more records of the largest size fit.
    pub fn has_room(&self, records: usize) -> bool {
        self.buf.len().saturating_add(records.saturating_mul(MAX_RECORD)) <= self.cap
    }

    /// Appends a record.
    ///
    /// # Errors
    /// [`RingFull`] when the ring has no room (the record, still the
    /// caller's, is counted as dropped).
    pub fn push(&mut self, rec: &JournalRecord) -> Result<(), RingFull> {
        let mut scratch = [0u8; MAX_RECORD];
        let Some(n) = rec.frame(&mut scratch) else {
            self.dropped += 1;
            return Err(RingFull);
        };
        if self.buf.len() + n > self.cap {
            self.dropped += 1;
            return Err(RingFull);
        }
        self.buf.extend_from_slice(scratch.get(..n).unwrap_or(&[]));
        self.pushed += 1;
        Ok(())
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Records pushed since start.
    pub const fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Records dropped because the ring was full.
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Drops what the ring holds unwritten (a backtest baseline that
    /// keeps no journal).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// Journal I/O errors.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Opening, reading, writing, syncing or truncating failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Another process holds the journal (another `odex run` on the same
    /// `journal.path`).
    #[error("journal {path} is locked by another process (is another odex running with this journal.path?)")]
    Locked {
        /// The file.
        path: PathBuf,
    },
}

/// Room kept free past the last record; the file grows by whole chunks.
const CHUNK: u64 = 8 << 20;

/// The file length that holds `at_least` bytes with [`HEADROOM`] to spare,
/// in whole [`CHUNK`]s.
const fn mapped_len(at_least: usize) -> u64 {
    (at_least as u64 + HEADROOM as u64).div_ceil(CHUNK) * CHUNK
}
/// [`JournalWriter::flush`] grows the file when less than this is free, so
/// that a write ahead of an order never has to.
const HEADROOM: usize = 1 << 20;
/// [`JournalWriter::flush`] touches this far past the last record, so that
/// the page faults of fresh pages are taken after a send, not before one.
const PREFAULT: usize = 64 << 10;
const PAGE: usize = 4096;

/// The file side of the journal: the file mapped into memory (see
/// `journal_map`), records copied in at the end of the valid data. The
/// file is longer than its records (zeros follow, which [`scan`] reads as
/// the end) until the writer is dropped, which cuts it to its records.
#[derive(Debug)]
pub struct JournalWriter {
    map: Mapped,
    path: PathBuf,
    policy: FsyncPolicy,
    last_sync: Nanos,
    unsynced: bool,
    written: u64,
    /// Where the next record goes.
    cursor: usize,
    /// Everything below this offset has been written or touched.
    touched: usize,
}

impl JournalWriter {
    /// Opens (creating) the journal under an exclusive lock and maps it;
    /// new records go after its last valid one (a torn or corrupt tail is
    /// overwritten: run [`recover`] first to read and report it).
    ///
    /// # Errors
    /// [`JournalError::Io`], [`JournalError::Locked`] when another process
    /// holds the journal.
    pub fn open(path: &Path, policy: FsyncPolicy) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        lock(&file, path)?;
        let len = usize::try_from(file.metadata().map_err(io)?.len()).unwrap_or(usize::MAX);
        let mut map = Mapped::new(file, mapped_len(len)).map_err(io)?;
        let bytes = map.bytes();
        let (_, cursor, _) = scan(bytes.get(..len).unwrap_or(&[]));
        // a torn or corrupt tail is overwritten: zero it, so that no stale
        // bytes ever follow new records
        if let Some(tail) = bytes.get_mut(cursor..len) {
            tail.fill(0);
        }
        Ok(Self {
            map,
            path: path.to_path_buf(),
            policy,
            last_sync: Nanos(0),
            unsynced: false,
            written: 0,
            cursor,
            touched: cursor,
        })
    }

    /// Copies what the ring holds into the file, empties it, fsyncs per
    /// policy, and prepares room for the next records (growing the file and
    /// touching fresh pages now, after the send). Returns the bytes written.
    ///
    /// # Errors
    /// [`JournalError::Io`]; the ring keeps its bytes when the write fails.
    pub fn flush(&mut self, ring: &mut JournalRing, now: Nanos) -> Result<usize, JournalError> {
        let n = self.write(ring)?;
        self.sync_due(now)?;
        self.prepare()?;
        Ok(n)
    }

    /// Write-ahead before requests go on the wire: copies what the ring
    /// holds into the mapped file (the page cache keeps it if the process
    /// is killed; no system call) and, with `every-record`, fsyncs too;
    /// `interval` syncs are left to [`Self::flush`] after the send, so they
    /// never delay an order.
    ///
    /// # Errors
    /// [`JournalError::Io`]; the ring keeps its bytes when the write fails.
    pub fn write_ahead(&mut self, ring: &mut JournalRing, now: Nanos) -> Result<usize, JournalError> {
        let n = self.write(ring)?;
        if self.policy == FsyncPolicy::EveryRecord {
            self.sync_due(now)?;
        }
        Ok(n)
    }

    fn io(&self, source: std::io::Error) -> JournalError {
        JournalError::Io { path: self.path.clone(), source }
    }

    fn write(&mut self, ring: &mut JournalRing) -> Result<usize, JournalError> {
        let pending = ring.pending();
        let n = pending.len();
        if n == 0 {
            return Ok(0);
        }
        let end = self.cursor + n;
        if end > self.map.len() {
            // more than the headroom at once: grow here (flush keeps this rare)
            self.grow(end)?;
        }
        let Some(dst) = self.map.bytes().get_mut(self.cursor..end) else {
            return Err(self.io(std::io::Error::other("journal mapping too short")));
        };
        dst.copy_from_slice(pending);
        ring.clear();
        self.cursor = end;
        self.touched = self.touched.max(end);
        self.written += n as u64;
        self.unsynced = true;
        Ok(n)
    }

    fn grow(&mut self, at_least: usize) -> Result<(), JournalError> {
        let r = self.map.grow(mapped_len(at_least));
        r.map_err(|e| self.io(e))
    }

    /// Keeps [`HEADROOM`] free and the next [`PREFAULT`] bytes' pages
    /// touched (they are zeros past the last record: writing a zero
    /// changes nothing but takes the page fault now). An fsync leaves the
    /// pages it wrote write-protected, so after one the pages ahead,
    /// the current one included, are touched again.
    fn prepare(&mut self) -> Result<(), JournalError> {
        if self.map.len() - self.cursor < HEADROOM {
            self.grow(self.cursor)?;
        }
        let (cursor, touched) = (self.cursor, self.touched);
        let until = (cursor + PREFAULT).min(self.map.len());
        let bytes = self.map.bytes();
        // the first untouched byte, then the start of each following page
        let mut at = touched.max(cursor);
        while at < until {
            if let Some(b) = bytes.get_mut(at) {
                *b = 0;
            }
            at = (at / PAGE + 1) * PAGE;
        }
        self.touched = self.touched.max(until);
        Ok(())
    }

    fn sync_due(&mut self, now: Nanos) -> Result<(), JournalError> {
        let due = match self.policy {
            FsyncPolicy::EveryRecord => self.unsynced,
            FsyncPolicy::Interval(i) => self.unsynced && now.saturating_sub(self.last_sync) >= i,
            FsyncPolicy::Never => false,
        };
        if due {
            // fdatasync writes back the mapping's dirty pages with the rest
            let r = self.map.file().sync_data();
            r.map_err(|e| self.io(e))?;
            self.last_sync = now;
            self.unsynced = false;
            self.touched = self.cursor;
        }
        Ok(())
    }

    /// Bytes written since open.
    pub const fn written(&self) -> u64 {
        self.written
    }
}

impl Drop for JournalWriter {
    /// Cuts the file to its records (a killed process leaves the zeros,
    /// which [`scan`] reads as the end).
    fn drop(&mut self) {
        // the mapping is not touched again; it is unmapped right after
        let _ = self.map.file().set_len(self.cursor as u64);
    }
}

/// Takes the journal's exclusive advisory lock (released when the file is
/// closed).
fn lock(file: &File, path: &Path) -> Result<(), JournalError> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::Locked { path: path.to_path_buf() }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io { path: path.to_path_buf(), source }),
    }
}

/// Why recovery stopped before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Fewer than 8 header bytes left (a torn write).
    TornHeader,
    /// The payload is shorter than its length says (a torn write).
    TornPayload {
        /// Bytes the header announced.
        needed: u32,
    },
    /// A length over [`MAX_PAYLOAD`] (garbage).
    BadLength {
        /// The length read.
        len: u32,
    },
    /// The CRC does not match (corruption).
    CrcMismatch {
        /// Stored CRC.
        stored: u32,
        /// Computed CRC.
        computed: u32,
    },
    /// The CRC matches but the payload is not a record.
    BadPayload,
}

/// What [`recover`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The valid records, in order.
    pub records: Vec<JournalRecord>,
    /// Length of the valid prefix (the file was truncated to it when
    /// reading stopped early).
    pub valid_len: u64,
    /// Length of the file before truncation.
    pub file_len: u64,
    /// Why reading stopped early (`None`: the whole file was valid).
    pub stop: Option<StopReason>,
}

/// Parses journal bytes up to the first torn or corrupt record.
pub fn scan(bytes: &[u8]) -> (Vec<JournalRecord>, usize, Option<StopReason>) {
    let mut records = Vec::new();
    let mut at = 0usize;
    let stop = loop {
        let Some(rest) = bytes.get(at..) else { break None };
        if rest.is_empty() {
            break None;
        }
        if rest.iter().all(|&b| b == 0) {
            // the zeros a mapped journal keeps past its last record (a
            // record's first byte, its length's low byte, is never zero)
            break None;
        }
        let Some(head) = rest.get(..HEADER_LEN) else { break Some(StopReason::TornHeader) };
        let le = |b: &[u8]| {
            let mut a = [0u8; 4];
            a.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
            u32::from_le_bytes(a)
        };
        let len = le(head.get(..4).unwrap_or(&[]));
        let stored = le(head.get(4..).unwrap_or(&[]));
        if len == 0 || len as usize > MAX_PAYLOAD {
            break Some(StopReason::BadLength { len });
        }
        let Some(payload) = rest.get(HEADER_LEN..HEADER_LEN + len as usize) else {
            break Some(StopReason::TornPayload { needed: len });
        };
        let computed = crc32(payload);
        if computed != stored {
            break Some(StopReason::CrcMismatch { stored, computed });
        }
        let Some(rec) = JournalRecord::decode(payload) else { break Some(StopReason::BadPayload) };
        records.push(rec);
        at += HEADER_LEN + len as usize;
    };
    (records, at, stop)
}

/// Reads a journal, stops at the first torn or corrupt record, truncates
/// the file there, and returns the valid records. A missing file is an
/// empty journal; zeros after the last record (a mapped journal whose
/// writer was killed) are its clean end and stay.
///
/// # Errors
/// [`JournalError::Io`] when the file cannot be read or truncated,
/// [`JournalError::Locked`] while a writer (another `odex run`) holds it.
pub fn recover(path: &Path) -> Result<Recovery, JournalError> {
    let io = |source| JournalError::Io { path: path.to_path_buf(), source };
    let mut bytes = Vec::new();
    let mut file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Recovery { records: Vec::new(), valid_len: 0, file_len: 0, stop: None });
        }
        Err(e) => return Err(io(e)),
    };
    // a journal held by a running writer is mapped: never cut it
    lock(&file, path)?;
    file.read_to_end(&mut bytes).map_err(io)?;
    let (records, valid, stop) = scan(&bytes);
    if stop.is_some() {
        file.set_len(valid as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok(Recovery { records, valid_len: valid as u64, file_len: bytes.len() as u64, stop })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    pub(crate) fn sample_records() -> Vec<JournalRecord> {
        let id = ClientOrderId::new(b"odx-r-1").unwrap();
        let req = OrderRequest {
            symbol: SymbolId(0),
            client_id: id,
            side: Side::Buy,
            kind: OrderType::Limit,
            time_in_force: Some(TimeInForce::Gtc),
            price: Some(Price::parse("100.5").unwrap()),
            qty: Qty::parse("0.25").unwrap(),
        };
        let rep = ExecutionReport {
            symbol: SymbolId(0),
            client_id: id,
            order_id: 42,
            side: Side::Buy,
            kind: OrderType::Limit,
            exec_type: ExecType::Trade,
            status: OrderStatus::PartiallyFilled,
            qty: req.qty,
            price: Price::parse("100.5").unwrap(),
            last_qty: Qty::parse("0.1").unwrap(),
            last_price: Price::parse("100.5").unwrap(),
            cum_qty: Qty::parse("0.1").unwrap(),
            cum_quote: Amount::parse("10.05").unwrap(),
            commission: Amount::parse("0.01").unwrap(),
            fee_in_base: true,
            maker: true,
            trade_id: 9,
            time: Nanos(123),
            reject_code: -2010,
        };
        vec![
            JournalRecord::Place { req, time: Nanos(5) },
            JournalRecord::Report(rep),
            JournalRecord::Cancel { symbol: SymbolId(0), client_id: id, time: Nanos(6) },
            JournalRecord::Status(rep),
            JournalRecord::RequestFailed {
                symbol: SymbolId(0),
                client_id: id,
                request: RequestKind::Cancel,
                unknown: true,
                time: Nanos(7),
            },
        ]
    }

    fn frames(records: &[JournalRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            let mut buf = [0u8; MAX_RECORD];
            let n = r.frame(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn records_round_trip() {
        for r in sample_records() {
            let mut buf = [0u8; MAX_PAYLOAD];
            let n = r.encode(&mut buf).unwrap();
            assert_eq!(JournalRecord::decode(&buf[..n]), Some(r));
            assert_eq!(JournalRecord::decode(&buf[..n - 1]), None);
        }
    }

    #[test]
    fn torn_tails_stop_at_the_last_whole_record() {
        let recs = sample_records();
        let bytes = frames(&recs);
        let (all, end, stop) = scan(&bytes);
        assert_eq!((all.len(), end, stop), (recs.len(), bytes.len(), None));
        // every possible tear inside the last record
        let last_start = frames(&recs[..recs.len() - 1]).len();
        for cut in last_start + 1..bytes.len() {
            let (got, end, stop) = scan(&bytes[..cut]);
            assert_eq!(got.len(), recs.len() - 1, "cut {cut}");
            assert_eq!(end, last_start);
            assert!(matches!(stop, Some(StopReason::TornHeader | StopReason::TornPayload { .. })), "{stop:?}");
        }
    }

    #[test]
    fn crc_mismatch_mid_file_stops_there() {
        let recs = sample_records();
        let mut bytes = frames(&recs);
        let second = frames(&recs[..1]).len();
        bytes[second + HEADER_LEN + 3] ^= 0x40;
        let (got, end, stop) = scan(&bytes);
        assert_eq!(got, recs[..1].to_vec());
        assert_eq!(end, second);
        assert!(matches!(stop, Some(StopReason::CrcMismatch { .. })));
        // garbage length
        let mut bytes = frames(&recs);
        bytes[second..second + 4].copy_from_slice(&100_000u32.to_le_bytes());
        assert_eq!(scan(&bytes).2, Some(StopReason::BadLength { len: 100_000 }));
    }

    #[test]
    fn recover_truncates_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.bin");
        let recs = sample_records();
        let mut ring = JournalRing::new(16);
        let mut w = JournalWriter::open(&path, FsyncPolicy::EveryRecord).unwrap();
        for r in &recs {
            ring.push(r).unwrap();
        }
        w.flush(&mut ring, Nanos(1)).unwrap();
        assert!(ring.pending().is_empty());
        drop(w);
        // a torn append
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[40, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let rec = recover(&path).unwrap();
        assert_eq!(rec.records, recs);
        assert_eq!(rec.stop, Some(StopReason::TornHeader));
        assert_eq!(rec.file_len, rec.valid_len + 6);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), rec.valid_len);
        // appending after recovery yields a clean journal
        let mut w = JournalWriter::open(&path, FsyncPolicy::Never).unwrap();
        ring.push(&recs[0]).unwrap();
        w.flush(&mut ring, Nanos(2)).unwrap();
        // a second writer or a recovery while it runs is refused
        assert!(matches!(JournalWriter::open(&path, FsyncPolicy::Never), Err(JournalError::Locked { .. })));
        assert!(matches!(recover(&path), Err(JournalError::Locked { .. })));
        // killed: the zeros after the records are its clean end
        std::mem::forget(w);
        let killed = recover(&path);
        assert!(matches!(killed, Err(JournalError::Locked { .. })), "the forgotten writer still holds the lock");
        let again = scan(&std::fs::read(&path).unwrap());
        assert!(std::fs::metadata(&path).unwrap().len() > again.1 as u64, "zeros follow the records");
        assert_eq!(again.0.len(), recs.len() + 1);
        assert_eq!(again.2, None);
    }

    #[test]
    fn a_dropped_writer_leaves_only_its_records_and_reopening_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.bin");
        let recs = sample_records();
        let mut ring = JournalRing::new(16);
        for round in 0..3 {
            let mut w = JournalWriter::open(&path, FsyncPolicy::Interval(Nanos(1))).unwrap();
            for r in &recs {
                ring.push(r).unwrap();
                w.write_ahead(&mut ring, Nanos(round)).unwrap();
            }
            w.flush(&mut ring, Nanos(round + 10)).unwrap();
            drop(w);
            let bytes = std::fs::read(&path).unwrap();
            let (found, valid, stop) = scan(&bytes);
            assert_eq!((valid, stop), (bytes.len(), None), "no zeros left after a clean close");
            assert_eq!(found.len(), recs.len() * (round as usize + 1));
        }
        // a garbage tail after the records is overwritten, never kept
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[7; 40]).unwrap();
        let mut w = JournalWriter::open(&path, FsyncPolicy::Never).unwrap();
        ring.push(&recs[0]).unwrap();
        w.flush(&mut ring, Nanos(1)).unwrap();
        drop(w);
        let rec = recover(&path).unwrap();
        assert_eq!((rec.records.len(), rec.stop), (recs.len() * 3 + 1, None));
    }

    #[test]
    fn records_past_the_first_chunk_grow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.bin");
        let recs = sample_records();
        let mut ring = JournalRing::new(4096);
        let mut w = JournalWriter::open(&path, FsyncPolicy::Never).unwrap();
        let mut n = 0usize;
        // about 20 MB: more than two chunks, written both ways
        while w.written() < 20 << 20 {
            for r in &recs {
                ring.push(r).unwrap();
                n += 1;
            }
            if n.is_multiple_of(2) { w.write_ahead(&mut ring, Nanos(0)) } else { w.flush(&mut ring, Nanos(0)) }
                .unwrap();
        }
        drop(w);
        let rec = recover(&path).unwrap();
        assert_eq!((rec.records.len(), rec.stop), (n, None));
        assert_eq!(rec.records.last(), recs.last());
    }

    #[test]
    fn zero_tail_is_the_clean_end_of_a_scan() {
        let mut ring = JournalRing::new(4);
        let recs = sample_records();
        ring.push(&recs[0]).unwrap();
        let mut bytes = ring.pending().to_vec();
        let records_len = bytes.len();
        for extra in [0usize, 1, 7, 8, 5000] {
            bytes.truncate(records_len);
            bytes.resize(records_len + extra, 0);
            assert_eq!(scan(&bytes), (vec![recs[0]], records_len, None), "{extra} zeros");
        }
        // a zero length with something after it is still garbage
        bytes.truncate(records_len);
        bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(scan(&bytes).2, Some(StopReason::BadLength { len: 0 }));
    }

    #[test]
    fn a_missing_journal_is_empty() {
        let path = std::env::temp_dir().join(format!("odex-journal-missing-{}.bin", std::process::id()));
        let rec = recover(&path).unwrap();
        assert!(rec.records.is_empty() && rec.stop.is_none());
        assert!(!path.exists(), "recovery creates nothing");
    }

    #[test]
    fn full_ring_hands_the_record_back() {
        let mut ring = JournalRing::new(1);
        let r = sample_records()[1];
        assert!(ring.has_room(1));
        ring.push(&r).unwrap();
        assert!(!ring.has_room(1));
        assert_eq!(ring.push(&r), Err(RingFull));
        assert_eq!(ring.dropped(), 1);
    }
}
