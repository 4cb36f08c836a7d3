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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = || tokio::runtime::Builder::new_multi_thread().enable_all().build();
    match cli.command {
        Command::Serve(args) => {
            // Before the runtime's threads exist (see `heap_tuning`).
            gateway::heap_tuning::apply();
            init_tracing(&args.log_format);
            runtime()?.block_on(gateway::server::serve(*args))
        }
        Command::Admin(args) => runtime()?.block_on(gateway::admin::cli::run(args)),
    }
}
