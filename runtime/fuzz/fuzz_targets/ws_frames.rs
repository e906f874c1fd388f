//! The websocket frame parser: arbitrary bytes from a server, fed in
//! arbitrary read sizes (the first byte of the input picks them), through
//! header parsing, masking rules, fragment reassembly, control frames,
//! UTF-8 checks and the message size limit. Any outcome but a panic or a
//! message larger than the limit is fine.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odex_runtime::net::{WsCodec, WsEvent};

const MAX_MESSAGE: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk_seed, bytes)) = data.split_first() else { return };
    let chunk = usize::from(chunk_seed % 64) + 1;
    let mut codec = WsCodec::new(MAX_MESSAGE, 512, 4096);
    for piece in bytes.chunks(chunk) {
        let space = codec.rx_space();
        let n = piece.len().min(space.len());
        space[..n].copy_from_slice(&piece[..n]);
        codec.rx_filled(n);
        loop {
            match codec.next_event(false, 0x1234_5678) {
                Ok(Some(WsEvent::Message(_, payload))) => assert!(payload.len() <= MAX_MESSAGE),
                Ok(Some(WsEvent::Close(_))) => return,
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return, // a protocol error: the link is dropped
            }
        }
        // pongs and close replies the codec queued
        let queued = codec.tx_pending().len();
        codec.tx_consume(queued);
    }
});
