//! Compiles `proto/*.proto` with protox (a pure-Rust protobuf compiler), so a
//! fresh machine needs nothing but the Rust toolchain to build Tusk.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/tusk.proto",
        "proto/yarn.proto",
        "proto/mr.proto",
        "proto/bench.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .bytes(".tusk")
        .compile_fds(fds)?;
    Ok(())
}
