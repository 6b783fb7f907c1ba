//! Embeds the web UI (`ui/`, hand-written ES modules and CSS, no build step of their own):
//! writes a table of every file under `ui/` with its bytes taken by `include_bytes!`, so that
//! adding a file needs no code change, and the binary always serves what the checkout holds.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, base, out)?;
        } else if let Ok(relative) = path.strip_prefix(base) {
            let name = relative.to_string_lossy().replace('\\', "/");
            // Editors' scratch files are not the UI's.
            if !name.starts_with('.') && !name.ends_with('~') {
                out.push((name, path.clone()));
            }
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=ui");
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?);
    let base = manifest.join("ui");
    let mut files = Vec::new();
    walk(&base, &base, &mut files)?;
    files.sort();
    let mut code = String::from("/// Every file of `crates/http/ui`, by its path there.\npub static FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in &files {
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?);
    std::fs::write(out.join("ui_files.rs"), code)
}
