//! The effect gate's list of effect-free host calls (src/effects.rs): its tests live with the
//! list (writes, exits, forks, signals, opens that create and unknown calls are gated; memory,
//! clocks, positional reads, lookups and signal-0 probes pass).
#[path = "../src/effects.rs"]
#[allow(dead_code)]
mod effects;
