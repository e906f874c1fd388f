//! The floor: a TCP ping-pong on 127.0.0.1 with a tick-sized message out
//! and an order-sized message back. The measuring side does what odex-sim
//! does in its probe (a mio poll with a 1 ms timeout, the send time taken
//! just before the write, the arrival just after the read that completes
//! the answer, the next ping `interval` after the answer); the answering
//! side is a thread that blocks in `read` or spins on a non-blocking one.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread;
use std::time::Duration;

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use odex_runtime::clock::{Clock, SystemClock};

use super::{ORDER_BYTES, Stats, TICK_BYTES};

/// Runs `ticks` ping-pongs paced `interval` apart; `busy_poll` makes the
/// answering side spin.
///
/// # Errors
/// Socket failures.
pub fn run(ticks: u64, interval: Duration, busy_poll: bool) -> io::Result<Stats> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let addr = listener.local_addr()?;
    let echo = thread::spawn(move || answer(&listener, busy_poll));
    let stats = measure(addr, ticks, interval);
    let answered = echo.join().map_err(|_| io::Error::other("floor: the answering thread panicked"))?;
    let stats = stats?;
    answered?;
    Ok(stats)
}

/// The answering side: one order-sized answer per tick-sized message, until EOF.
fn answer(listener: &TcpListener, busy_poll: bool) -> io::Result<()> {
    let (mut s, _) = listener.accept()?;
    s.set_nodelay(true)?;
    s.set_nonblocking(busy_poll)?;
    let mut buf = [0u8; TICK_BYTES];
    let reply = [b'o'; ORDER_BYTES];
    loop {
        let mut got = 0;
        while got < TICK_BYTES {
            match s.read(buf.get_mut(got..).unwrap_or(&mut [])) {
                Ok(0) => return Ok(()),
                Ok(n) => got += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        let mut sent = 0;
        while sent < ORDER_BYTES {
            match s.write(reply.get(sent..).unwrap_or(&[])) {
                Ok(n) => sent += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

fn measure(addr: SocketAddr, ticks: u64, interval: Duration) -> io::Result<Stats> {
    let clock = SystemClock::new();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).map_err(io::Error::other)?;
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(8);
    let std_stream = std::net::TcpStream::connect(addr)?;
    std_stream.set_nodelay(true)?;
    std_stream.set_nonblocking(true)?;
    let mut s = TcpStream::from_std(std_stream);
    poll.registry().register(&mut s, Token(0), Interest::READABLE)?;
    let ping = [b't'; TICK_BYTES];
    let mut buf = [0u8; ORDER_BYTES];
    for _ in 0..ticks {
        let sent = clock.monotonic();
        let mut off = 0;
        while off < TICK_BYTES {
            match s.write(ping.get(off..).unwrap_or(&[])) {
                Ok(n) => off += n,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => return Err(e),
            }
        }
        let mut got = 0;
        let arrived = loop {
            poll.poll(&mut events, Some(Duration::from_millis(1)))?;
            let mut last = None;
            loop {
                match s.read(buf.get_mut(got..).unwrap_or(&mut [])) {
                    Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "floor: answer side closed")),
                    Ok(n) => {
                        got += n;
                        last = Some(clock.monotonic());
                        if got == ORDER_BYTES {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if got == ORDER_BYTES
                && let Some(t) = last
            {
                break t;
            }
        };
        let _ = hist.record(arrived.saturating_sub(sent).0.max(1));
        thread::sleep(interval);
    }
    drop(s);
    Ok(Stats::from_histogram(&hist, ticks))
}
