//! The gaps between the runtime's loaded segments (src/imageholes.rs): its tests live with it.
#[path = "../src/imageholes.rs"]
mod imageholes;
