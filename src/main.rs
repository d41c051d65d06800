//! Thin: parse the command line, run a command, render its error, exit.

use alma_image_builder::{cli::Cli, commands, error, report};
use clap::Parser;

fn main() {
    // Before any thread exists: mounts of this run die with it.
    let private = alma_image_builder::sys::ns::private_mounts();
    let cli = Cli::parse();
    report::set_level(if cli.quiet { 0 } else { 1 + cli.verbose });
    if !private {
        report::debug("no private mount namespace (not root): mounts are the host's");
    }
    let json = cli.json;
    if let Err(e) = commands::run(cli) {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&error::render_json(&e))
                    .expect("JSON values serialize")
            );
        } else {
            eprintln!("{}", error::render_text(&e));
        }
        std::process::exit(error::exit_code(&e));
    }
}
