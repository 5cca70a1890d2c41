//! Generates the `nefele.v1` messages, clients and servers, and the
//! `nefele.keeper.v1` messages (noded and its keeper), with a vendored
//! `protoc`, so building needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the
    // environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("nefele_descriptor.bin"))
        .compile_protos(&["proto/nefele/v1/nefele.proto"], &["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_protos(&["proto/nefele/keeper/v1/keeper.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
