//! `fetch` against a local HTTP server on 127.0.0.1: pagination,
//! `Retry-After` on 429/418 and the used-weight header.
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use odex_trainer::fetch::{FetchRequest, fetch};

const START: i64 = 1_660_435_200_000;

fn kline(open: i64) -> String {
    format!(
        "[{open},\"100.00000000\",\"101.00000000\",\"99.00000000\",\"100.50000000\",\"10.00000000\",{},\"1005.00000000\",42,\"6.00000000\",\"603.00000000\",\"0\"]",
        open + 59_999
    )
}

/// Serves: a 429, then a 418, then pages of the klines in [start, end] of at most `limit`.
fn serve(listener: TcpListener, total: i64) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let path = request.split_whitespace().nth(1).unwrap().to_string();
            seen.push(path.clone());
            let (status, extra, body) = match n {
                0 => ("429 Too Many Requests", "Retry-After: 3\r\n".to_string(), "{\"code\":-1003}".to_string()),
                1 => ("418 I'm a teapot", "Retry-After: 7\r\n".to_string(), "{\"code\":-1003}".to_string()),
                _ => {
                    let q = |k: &str| -> i64 {
                        path.split(['?', '&'])
                            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                            .unwrap()
                            .parse()
                            .unwrap()
                    };
                    let (start, end, limit) = (q("startTime"), q("endTime"), q("limit"));
                    let first = ((start - START + 59_999) / 60_000).max(0);
                    let opens: Vec<String> = (first..total)
                        .map(|i| START + i * 60_000)
                        .filter(|&o| o >= start && o <= end)
                        .take(limit as usize)
                        .map(kline)
                        .collect();
                    let weight = if n == 2 { "5999" } else { "10" };
                    (
                        "200 OK",
                        format!("X-MBX-USED-WEIGHT-1M: {weight}\r\nContent-Type: application/json\r\n"),
                        format!("[{}]", opens.join(",")),
                    )
                }
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(resp.as_bytes()).unwrap();
            if n >= 4 {
                break;
            }
        }
        seen
    })
}

#[test]
fn paginates_and_honours_rate_limits() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let total = 2500;
    let server = serve(listener, total);
    let req = FetchRequest {
        base_url: base,
        symbol: "ETHUSDT".into(),
        interval: "1m".into(),
        start_ms: START,
        end_ms: START + (total - 1) * 60_000,
        limit: 1000,
        weight_budget: 5000,
        max_retries: 3,
    };
    let mut waits = Vec::new();
    let (csv, stats) = fetch(&req, &mut |d: Duration| waits.push(d.as_secs())).unwrap();
    let seen = server.join().unwrap();
    assert_eq!(waits, vec![3, 7, 60], "Retry-After twice, then one pause for the used weight");
    assert_eq!((stats.requests, stats.rate_limited, stats.weight_pauses, stats.rows), (3, 2, 1, 2500));
    assert_eq!(seen.len(), 5);
    assert!(seen[2].starts_with("/api/v3/klines?symbol=ETHUSDT&interval=1m&startTime=1660435200000&"), "{}", seen[2]);
    assert!(seen[3].contains(&format!("startTime={}", START + 999 * 60_000 + 1)), "{}", seen[3]);
    let s = odex_trainer::data::parse_csv(Path::new("fetched.csv"), csv.as_bytes()).unwrap();
    assert_eq!(s.rows.len(), 2500);
    assert!(s.gaps.is_empty());
}

#[test]
fn gives_up_after_max_retries() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = serve(listener, 10);
    let req = FetchRequest {
        base_url: base,
        symbol: "ETHUSDT".into(),
        interval: "1m".into(),
        start_ms: START,
        end_ms: START + 60_000 * 9,
        limit: 1000,
        weight_budget: 5000,
        max_retries: 1,
    };
    let e = fetch(&req, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("418") && e.contains("1 retries"), "{e}");
    drop(server);
}
