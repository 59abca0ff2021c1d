//! Compiles the wire format in `proto/` with the pure-Rust `protox` compiler (no `protoc` needed)
//! and generates the Rust types with `prost-build`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/modeldescriptor.proto",
        "proto/winerecord.proto",
        "proto/featurerecord.proto",
        "proto/servingresult.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    prost_build::Config::new()
        // Records and model descriptors cross timely workers and processes, encoded by serde.
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .compile_fds(descriptors)?;
    Ok(())
}
