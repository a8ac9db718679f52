//! Link the runtime as a static, non-PIE, libc-free executable at a fixed high address, far
//! from where a non-PIE app (0x400000) or a PIE app (0x555555554000) is loaded.
fn main() {
    for arg in [
        "-nostartfiles",
        "-nostdlib",
        "-static",
        "-no-pie",
        "-Wl,--image-base=0x7e0000000000",
        "-Wl,-z,norelro",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack",
    ] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    // The functions that run when packed apps start, laid out first and back to back
    // (bench/runtime_order.py writes the list): the kernel maps 64 KiB around each page of
    // code that faults, so code that runs scattered among code that does not made most of
    // the runtime's text resident in every process (docs/targets/linux-userland.md,
    // "Resident memory"). An augmenting script (INSERT), read by GNU ld and lld alike;
    // names it lists that no longer exist match nothing.
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("startup-order.ld");
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", order.display());
    println!("cargo:rerun-if-changed=startup-order.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
