//! `odex`: the trading runtime's command line.
//!
//! One binary, one subcommand per job. Each subcommand is a variant of
//! [`Command`] with its own argument struct, so new ones (`run`,
//! `backtest`, `check-config`, `model`) slot in beside `sign`.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use odex_runtime::binance::keys::{KeySource, load_signer};
use odex_runtime::binance::sign::{MAX_SIGNATURE_LEN, SignatureKind};

#[derive(Debug, Parser)]
#[command(name = "odex", version, about = "odex trading runtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the Binance signature of a payload, to debug a -1022 answer.
    #[command(after_help = SIGN_EXAMPLES)]
    Sign(SignArgs),
}

const SIGN_EXAMPLES: &str = "\
Examples:
  # HMAC key in an environment variable, payload as an argument
  BINANCE_SECRET=... odex sign --key-env BINANCE_SECRET \\
      'apiKey=KEY&symbol=BTCUSDT&timestamp=1499827319559'

  # Ed25519 PKCS#8 key in a file only its owner can read (chmod 600), payload on stdin
  printf '%s' 'apiKey=KEY&timestamp=1499827319559' | odex sign --kind ed25519 --key-file ed25519.pem

The WebSocket API signs every parameter except `signature`, sorted by name,
joined as name=value with '&', values exactly as sent. Compare this output with
the `signature` the runtime logged for the rejected request.";

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// HMAC-SHA256 with the API secret (hex output).
    Hmac,
    /// Ed25519 with a PKCS#8 PEM private key (base64 output).
    Ed25519,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key").required(true).args(["key_env", "key_file"])))]
struct SignArgs {
    /// Signature algorithm.
    #[arg(long, value_enum, default_value = "hmac")]
    kind: Kind,
    /// Read the secret from this environment variable.
    #[arg(long, value_name = "NAME")]
    key_env: Option<String>,
    /// Read the secret from this file (must not be readable by group or others).
    #[arg(long, value_name = "PATH")]
    key_file: Option<PathBuf>,
    /// The payload to sign; read from stdin when omitted (one trailing newline is dropped).
    payload: Option<String>,
}

fn sign(args: SignArgs) -> Result<()> {
    let source = match (args.key_env, args.key_file) {
        (Some(name), None) => KeySource::Env(name),
        (None, Some(path)) => KeySource::File(path),
        _ => bail!("give exactly one of --key-env and --key-file"),
    };
    let kind = match args.kind {
        Kind::Hmac => SignatureKind::Hmac,
        Kind::Ed25519 => SignatureKind::Ed25519,
    };
    let signer = load_signer(kind, &source)?;
    let payload = match args.payload {
        Some(p) => p.into_bytes(),
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading the payload from stdin")?;
            if buf.ends_with(b"\n") {
                buf.pop();
                if buf.ends_with(b"\r") {
                    buf.pop();
                }
            }
            buf
        }
    };
    let mut out = [0u8; MAX_SIGNATURE_LEN];
    let n = signer.sign_into(&payload, &mut out)?;
    let text = out.get(..n).context("signature length")?;
    println!("{}", std::str::from_utf8(text)?);
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Sign(args) => sign(args),
    }
}
