//! The `infoplane` command line.

use anyhow::Result;

fn main() -> Result<()> {
    env_logger::init();
    println!("infoplane {}", env!("CARGO_PKG_VERSION"));
    Ok(())
}
