//! Rewrites `events/*.json` from `local_stack::events` (see there).

use std::{io::Write, path::PathBuf};

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../events");
    for (name, event) in local_stack::events::all() {
        let text = serde_json::to_string_pretty(&event).map_err(std::io::Error::other)? + "\n";
        std::fs::write(dir.join(name), text)?;
        let _ = writeln!(std::io::stdout(), "events/{name}");
    }
    Ok(())
}
