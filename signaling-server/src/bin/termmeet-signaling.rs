//! `termmeet-signaling`: serves rooms for termmeet's terminal and browser clients.
//! Everything but flag parsing lives in the library.

use clap::{Parser, Subcommand};
use termmeet_signaling::config_file;
use termmeet_signaling::loadgen::LoadgenArgs;
use termmeet_signaling::ServeArgs;

/// termmeet's signaling server: rooms, relay of WebRTC set-up between participants, raised
/// hands and chat, over WebSocket at ws://ADDR/ws. Also serves /healthz, /metrics
/// (Prometheus) and the browser client at /.
///
/// Every flag has an environment variable of the same meaning (shown with each flag).
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default when no subcommand is given).
    Serve(Box<ServeArgs>),
    /// Measure a server: open many WebSocket clients in many rooms, send chat and relayed
    /// candidates at a set rate, and report relay latency, throughput and memory.
    Loadgen(LoadgenArgs),
    /// Print a join token for a server started with --token-secret (and, with --url, a link
    /// to the browser page that joins with it).
    Token(TokenArgs),
    /// Print the shell completion script (bash, zsh, fish, elvish or powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (termmeet-signaling.1 and one per subcommand) into DIR.
    Man {
        /// Where to write them.
        dir: std::path::PathBuf,
    },
}

#[derive(clap::Args)]
struct TokenArgs {
    /// The server's token secret.
    #[arg(long, env = "TERMMEET_TOKEN_SECRET", conflicts_with = "secret_file")]
    secret: Option<String>,
    /// The server's token secret, from a file (its first line).
    #[arg(long, env = "TERMMEET_TOKEN_SECRET_FILE")]
    secret_file: Option<std::path::PathBuf>,
    /// The room the token admits to.
    #[arg(long)]
    room: String,
    /// The display name the holder will have.
    #[arg(long)]
    name: String,
    /// Give host powers (lower others' hands, turn chat on and off).
    #[arg(long)]
    host: bool,
    /// How long the token is valid (like 2h, 30m, 7d).
    #[arg(long, default_value = "2h", value_parser = termmeet_signaling::duration::parse_duration)]
    ttl: std::time::Duration,
    /// The server's page, like https://meet.example.org: also print a join link.
    #[arg(long)]
    url: Option<String>,
}

fn main() -> anyhow::Result<()> {
    // The config file fills the variables the flags read, before the flags are read.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(path) = config_file::config_path(&args, |k| std::env::var(k).ok()) {
        use clap::CommandFactory;
        match config_file::config_env(&Cli::command(), &path) {
            Ok(pairs) => {
                for (variable, value) in pairs {
                    if std::env::var_os(&variable).is_none() {
                        std::env::set_var(variable, value);
                    }
                }
            }
            Err(e) => {
                eprintln!("termmeet-signaling: {e}");
                std::process::exit(2);
            }
        }
    }
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            termmeet_signaling::docs::completions(Cli::command(), *shell, &mut std::io::stdout());
            return Ok(());
        }
        Some(Command::Man { dir }) => {
            use clap::CommandFactory;
            for page in termmeet_signaling::docs::man_pages(Cli::command(), dir)? {
                println!("{}", page.display());
            }
            return Ok(());
        }
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Some(Command::Loadgen(args)) => {
            init_logs("warn");
            runtime.block_on(termmeet_signaling::loadgen::run(args))
        }
        Some(Command::Serve(serve)) => runtime.block_on(serve_until_signal(*serve)),
        Some(Command::Token(args)) => print_token(args),
        Some(Command::Completions { .. } | Command::Man { .. }) => Ok(()),
        None => runtime.block_on(serve_until_signal(cli.serve)),
    }
}

fn print_token(args: TokenArgs) -> anyhow::Result<()> {
    use termmeet_signaling::token::{self, Role, TokenSecret};
    let secret = TokenSecret::from_flags(args.secret.as_deref(), args.secret_file.as_deref())?
        .ok_or_else(|| {
            anyhow::anyhow!("give the server's token secret with --secret or --secret-file")
        })?;
    termmeet_signaling::protocol::check_room_name(&args.room)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let name = termmeet_signaling::sanitize::sanitize_name(&args.name).ok_or_else(|| {
        anyhow::anyhow!("--name must be 1 to 32 characters, without control characters")
    })?;
    let role = if args.host { Role::Host } else { Role::Guest };
    let minted = token::mint(&secret, &args.room, &name, role, args.ttl)?;
    println!("{minted}");
    if let Some(base) = &args.url {
        println!("{}", token::join_link(base, &args.room, &minted));
    }
    Ok(())
}

fn init_logs(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

/// Each `--sfu` Janus that answers must take H.264 rooms; one that does not answer yet is
/// waited for (rooms stay a mesh until it does).
async fn check_sfu(urls: &[String]) -> anyhow::Result<()> {
    use termmeet_signaling::sfu::{check, janus::JanusError};
    for url in urls {
        match check(url).await {
            Ok(()) => tracing::info!(%url, "SFU: Janus takes H.264 rooms"),
            Err(e @ JanusError::Connect { .. }) => {
                tracing::warn!(%url, "{e}; rooms stay a mesh until it answers")
            }
            Err(e) => anyhow::bail!(
                "--sfu {url}: {e}. termmeet needs Janus's VideoRoom plugin with H.264 (42e01f); check janus.plugin.videoroom is loaded"
            ),
        }
    }
    Ok(())
}

async fn serve_until_signal(args: ServeArgs) -> anyhow::Result<()> {
    init_logs(&args.log_level);
    let config = args.to_config()?;
    check_sfu(&config.sfu).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
            "cannot listen on {}: {e}; choose another address with --listen (or TERMMEET_LISTEN)",
            args.listen
        )
        })?;
    let tls = config.tls.clone();
    let (router, handle) = termmeet_signaling::build(config);
    if let Ok(addr) = listener.local_addr() {
        print_addresses(addr, tls.as_ref());
    }
    if let Some(addr) = args.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {addr} for metrics: {e}; choose another --metrics-listen"
            )
        })?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
        let router = handle.metrics_router();
        tokio::spawn(async move { axum::serve(metrics, router).await });
    }
    termmeet_signaling::serve(listener, router, handle, shutdown_signal()).await?;
    Ok(())
}

/// Prints the URLs others use to reach this server (every address of this machine when it
/// listens on all of them) and, with TLS, the certificate's fingerprint.
fn print_addresses(addr: std::net::SocketAddr, tls: Option<&termmeet_signaling::tls::ServerTls>) {
    let (ws, http) = if tls.is_some() {
        ("wss", "https")
    } else {
        ("ws", "http")
    };
    let hosts: Vec<String> = if addr.ip().is_unspecified() {
        termmeet_signaling::tls::certificate_names(addr, &[])
            .into_iter()
            .filter(|n| n != "localhost")
            .collect()
    } else {
        vec![addr.ip().to_string()]
    };
    println!("termmeet signaling server on port {}", addr.port());
    for host in hosts {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let port = addr.port();
        println!("  terminals: termmeet join ROOM --server {ws}://{host}:{port}/ws");
        println!("  browsers:  {http}://{host}:{port}/");
    }
    if let Some(tls) = tls {
        println!("  certificate SHA-256: {}", tls.fingerprint());
        if let Some(spki) = tls.spki_sha256() {
            println!("  (self-signed: terminals add --server-fingerprint {}; browsers must accept it, or start Chromium with --ignore-certificate-errors-spki-list={spki})", tls.fingerprint());
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
