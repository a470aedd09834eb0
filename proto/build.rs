//! Generates the Rust code for the contracts with a vendored `protoc`, so no machine needs one
//! installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/scimsvc/v1/provisioning.proto",
        "proto/scimsvc/v1/directory.proto",
        "proto/scimsvc/v1/records.proto",
        "proto/scimsvc/v1/events.proto",
    ];
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(config, &files, &["proto"])?;
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    Ok(())
}
