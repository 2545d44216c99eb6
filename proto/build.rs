//! Compiles `poolkeeper/v1/*.proto` with protox (pure Rust, no system protoc) and generates
//! prost messages and tonic clients and servers. Also writes the encoded file descriptor
//! set for server reflection.

use std::path::PathBuf;

const FILES: [&str; 6] = [
    "poolkeeper/v1/types.proto",
    "poolkeeper/v1/commands.proto",
    "poolkeeper/v1/queries.proto",
    "poolkeeper/v1/audit.proto",
    "poolkeeper/v1/admin.proto",
    "poolkeeper/v1/organizations.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut compiler = protox::Compiler::new(["."])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(FILES)?;
    for file in compiler.files() {
        if let Some(path) = file.path() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let descriptors = compiler.file_descriptor_set();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("poolkeeper_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    // Malformed requests are the caller's mistake (INVALID_ARGUMENT), not INTERNAL.
    tonic_prost_build::configure()
        .codec_path("crate::codec::StrictProstCodec")
        .compile_fds(descriptors)?;
    Ok(())
}
