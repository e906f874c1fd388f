//! `odex-train fetch`: klines from a Binance REST base URL into a CSV file in
//! the archive layout (twelve columns, no header), which [`crate::data`]
//! reads like a downloaded archive.
//!
//! `GET {base}/api/v3/klines?symbol=..&interval=..&startTime=..&endTime=..&limit=1000`,
//! paginated by moving `startTime` past the last open time received. Rate
//! limits: after every response the `X-MBX-USED-WEIGHT-1M` header is read and,
//! once the used weight reaches the budget, the fetcher pauses for a minute;
//! a 429 or 418 answer is retried after its `Retry-After` seconds (at most
//! `max_retries` times in a row). Each row is validated with
//! `odex_shared::kline` before it is written. Sleeping goes through a
//! caller-supplied function so tests run instantly.

use std::fmt::Write as _;
use std::time::Duration;

use odex_shared::kline::{self, RowLayout};

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The connection or the HTTP exchange failed.
    #[error("GET {url}: {message}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An HTTP status other than 200, 429 and 418.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The response body (truncated).
        body: String,
    },
    /// Still rate limited after `max_retries` retries.
    #[error("GET {url}: still rate limited (HTTP {status}) after {retries} retries")]
    RateLimited {
        /// The URL.
        url: String,
        /// 429 or 418.
        status: u16,
        /// Retries made.
        retries: u32,
    },
    /// The body is not the expected JSON array of klines.
    #[error("GET {url}: kline {index}: {message}")]
    Body {
        /// The URL.
        url: String,
        /// Index of the kline in the response.
        index: usize,
        /// What was wrong.
        message: String,
    },
}

/// What to download.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchRequest {
    /// Base URL, e.g. `https://api.binance.com` (no trailing slash needed).
    pub base_url: String,
    /// Symbol, e.g. `ETHUSDT`.
    pub symbol: String,
    /// Interval, e.g. `1m`.
    pub interval: String,
    /// First open time, ms (inclusive).
    pub start_ms: i64,
    /// Last open time, ms (inclusive).
    pub end_ms: i64,
    /// Klines per request (Binance allows at most 1000).
    pub limit: u32,
    /// Used weight per minute at which to pause for a minute.
    pub weight_budget: u32,
    /// Retries of a 429/418 answer before giving up.
    pub max_retries: u32,
}

/// Download statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Requests answered 200.
    pub requests: u32,
    /// 429/418 answers waited out.
    pub rate_limited: u32,
    /// Pauses because the used weight reached the budget.
    pub weight_pauses: u32,
    /// Rows written.
    pub rows: usize,
}

/// Downloads every kline in the request's range and returns the CSV text
/// (archive layout, no header) and statistics. `sleep` is called for every
/// wait.
///
/// # Errors
/// [`FetchError`] naming the URL and the problem.
pub fn fetch(req: &FetchRequest, sleep: &mut dyn FnMut(Duration)) -> Result<(String, FetchStats), FetchError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let base = req.base_url.trim_end_matches('/');
    let mut out = String::new();
    let mut stats = FetchStats::default();
    let mut start = req.start_ms;
    let mut last_open: Option<i64> = None;
    while start <= req.end_ms {
        let url = format!(
            "{base}/api/v3/klines?symbol={}&interval={}&startTime={start}&endTime={}&limit={}",
            req.symbol, req.interval, req.end_ms, req.limit
        );
        let http = |e: ureq::Error| FetchError::Http { url: url.clone(), message: e.to_string() };
        let mut retries = 0;
        let body = loop {
            let mut resp = agent.get(&url).call().map_err(http)?;
            let status = resp.status().as_u16();
            let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            let used = header("x-mbx-used-weight-1m").or_else(|| header("x-mbx-used-weight"));
            let retry_after = header("retry-after").and_then(|v| v.trim().parse::<u64>().ok());
            if status == 429 || status == 418 {
                if retries >= req.max_retries {
                    return Err(FetchError::RateLimited { url: url.clone(), status, retries });
                }
                retries += 1;
                stats.rate_limited += 1;
                sleep(Duration::from_secs(retry_after.unwrap_or(60)));
                continue;
            }
            let text = resp.body_mut().read_to_string().map_err(http)?;
            if status != 200 {
                return Err(FetchError::Status { url: url.clone(), status, body: text.chars().take(300).collect() });
            }
            stats.requests += 1;
            if used.and_then(|u| u.trim().parse::<u32>().ok()).is_some_and(|u| u >= req.weight_budget) {
                stats.weight_pauses += 1;
                sleep(Duration::from_secs(60));
            }
            break text;
        };
        let klines: Vec<Vec<serde_json::Value>> = serde_json::from_str(&body).map_err(|e| FetchError::Body {
            url: url.clone(),
            index: 0,
            message: e.to_string(),
        })?;
        let count = klines.len();
        for (index, k) in klines.iter().enumerate() {
            let berr = |message: String| FetchError::Body { url: url.clone(), index, message };
            if k.len() < 12 {
                return Err(berr(format!("{} fields, expected 12", k.len())));
            }
            let mut line = String::new();
            for (i, v) in k.iter().take(12).enumerate() {
                if i > 0 {
                    line.push(',');
                }
                match v {
                    serde_json::Value::String(s) => line.push_str(s),
                    serde_json::Value::Number(n) => {
                        let _ = write!(line, "{n}");
                    }
                    other => return Err(berr(format!("field {} is {other}", i + 1))),
                }
            }
            let row = kline::parse_row(line.as_bytes(), RowLayout::Binance).map_err(|e| berr(e.to_string()))?;
            let open = row.bar.open_time_ms;
            if last_open.is_some_and(|l| open <= l) {
                continue; // overlapping page: already written
            }
            if open > req.end_ms {
                break;
            }
            last_open = Some(open);
            out.push_str(&line);
            out.push('\n');
            stats.rows += 1;
        }
        match last_open {
            Some(l) if count == req.limit as usize && l + 1 > start => start = l + 1,
            _ => break,
        }
    }
    Ok((out, stats))
}
