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
    println!("cargo:rerun-if-changed=build.rs");
}
