//! Writes the seed corpus of the fuzz targets: `seed <dir>`. Every seed is
//! a real message that decodes, so fuzzing starts from valid structure.

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: seed <corpus dir>");
        std::process::exit(2)
    });
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {dir}: {e}"));
    let codec = infragraph_fuzz::with_newer_host();
    for (name, bytes) in infragraph_fuzz::seeds() {
        if let Err(e) = codec.decode(&bytes) {
            panic!("seed {name} does not decode: {e}");
        }
        let path = std::path::Path::new(&dir).join(format!("seed-{name}"));
        std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}
