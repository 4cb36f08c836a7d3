use clap::Parser;
use gateway::config::{Cli, Command};
use tracing_subscriber::EnvFilter;

fn init_tracing(format: &str) {
    // s3s logs every S3 error response at error level; the gateway's own request log covers them.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,s3s=off"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            init_tracing(&args.log_format);
            gateway::server::serve(*args).await
        }
        Command::Admin(args) => gateway::admin::cli::run(args).await,
    }
}
