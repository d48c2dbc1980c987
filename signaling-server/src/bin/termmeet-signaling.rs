//! `termmeet-signaling`: serves rooms for termmeet's terminal and browser clients.
//! Everything but flag parsing lives in the library.

use clap::{Parser, Subcommand};
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Some(Command::Loadgen(args)) => {
            init_logs("warn");
            runtime.block_on(termmeet_signaling::loadgen::run(args))
        }
        Some(Command::Serve(serve)) => runtime.block_on(serve_until_signal(*serve)),
        None => runtime.block_on(serve_until_signal(cli.serve)),
    }
}

fn init_logs(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .init();
}

async fn serve_until_signal(args: ServeArgs) -> anyhow::Result<()> {
    init_logs(&args.log_level);
    let config = args.to_config()?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
            "cannot listen on {}: {e}; choose another address with --listen (or TERMMEET_LISTEN)",
            args.listen
        )
        })?;
    let (router, handle) = termmeet_signaling::build(config);
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
