//! Elapsed time from two channels of the 8254 PIT, counted over any span up to 56 s.
//!
//! One 16-bit PIT channel wraps every 55 ms, so a single pair of readings cannot tell how many
//! periods passed between them. Two channels counting the same 1.193182 MHz clock with
//! different periods can: channel 0 with reload 65536 (written as 0) and channel 1 with
//! reload [`CH1_RELOAD`] = 65536 - 64 = 64 x 1023, both in mode 2 (rate generator), latched
//! together by one read-back command. The elapsed count `E` satisfies `E = d0 (mod 65536)`
//! and `E = d1 (mod 65472)`; since 65536 = 64 (mod 65472), `E = d0 + 65536 k` where
//! `64 k = d1 - d0 (mod 65472)`, which gives `k` modulo 1023 (so `E` up to 1023 x 65536 counts,
//! 56.2 s) and tolerates a few counts of skew between the two latches.

/// The PIT's input clock (Hz).
pub const PIT_HZ: u64 = 1_193_182;
/// Channel 1's reload value (channel 0's is 65536).
pub const CH1_RELOAD: u16 = 65472;
/// The longest span [`elapsed`] resolves, in PIT counts (1023 periods of channel 0).
pub const MAX_SPAN: u64 = 1023 * 65536;
/// How far `d1 - d0` may stray from a multiple of 64 before the readings are refused.
const SKEW: u64 = 8;

/// Counts of both channels, latched at the same instant (as read: counting down).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Channel 0 (reload 65536: reads 0..=65535, 0 standing for 65536).
    pub ch0: u16,
    /// Channel 1 (reload [`CH1_RELOAD`]: reads 1..=65472).
    pub ch1: u16,
}

/// PIT counts elapsed from `start` to `now` (both latched by the same read-back command), or
/// None when the two channels disagree (a channel not counting, a reading out of range, the
/// latches too far apart). Exact for spans below [`MAX_SPAN`]; longer spans alias.
pub fn elapsed(start: Counts, now: Counts) -> Option<u64> {
    let m1 = CH1_RELOAD as u64;
    if start.ch1 as u64 > m1 || now.ch1 as u64 > m1 {
        return None;
    }
    let d0 = start.ch0.wrapping_sub(now.ch0) as u64;
    let d1 = (start.ch1 as u64 + m1 - now.ch1 as u64) % m1;
    let r = (d1 + m1 - d0 % m1) % m1;
    let k = (r + 32) / 64;
    let off = r.abs_diff(k * 64);
    if off > SKEW {
        return None;
    }
    Some(d0 + 65536 * (k % 1023))
}

/// Nanoseconds in `counts` PIT counts.
pub fn counts_to_ns(counts: u64) -> u64 {
    (counts as u128 * 1_000_000_000 / PIT_HZ as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What both channels read `e` counts after being loaded (mode 2 counts N..1).
    fn at(e: u64) -> Counts {
        let ch0 = (65536 - e % 65536) as u16; // 65536 reads as 0
        let ch1 = (CH1_RELOAD as u64 - e % CH1_RELOAD as u64) as u16;
        Counts { ch0, ch1 }
    }

    #[test]
    fn exact_over_many_wraps_of_channel_zero() {
        for (t0, span) in [
            (0u64, 0u64),
            (0, 1),
            (5, 11_932),
            (70_000, 65_535),
            (3, 65_536),
            (99, 65_537),
            (1_000_000, 3_000_000),
            (12_345, 33_554_432),
            (0, MAX_SPAN - 1),
            (777, MAX_SPAN - 64),
        ] {
            assert_eq!(elapsed(at(t0), at(t0 + span)), Some(span), "start {t0}, span {span}");
        }
    }

    #[test]
    fn every_short_span_is_exact() {
        for span in (0..200_000).step_by(97) {
            assert_eq!(elapsed(at(1234), at(1234 + span)), Some(span));
        }
    }

    #[test]
    fn spans_of_max_span_or_more_alias() {
        assert_eq!(elapsed(at(0), at(MAX_SPAN)), Some(0));
        assert_eq!(elapsed(at(0), at(MAX_SPAN + 10)), Some(10));
    }

    #[test]
    fn a_few_counts_of_latch_skew_pick_the_right_wrap() {
        let (s, n) = (at(100), at(100 + 3 * 65536 + 500));
        for skew in [1u16, 3, 8] {
            let late = Counts { ch0: n.ch0, ch1: n.ch1 - skew };
            let got = elapsed(s, late).expect("within tolerance");
            assert_eq!(got, 3 * 65536 + 500, "skew {skew}");
        }
    }

    #[test]
    fn disagreeing_channels_are_refused() {
        // Channel 1 not counting (stuck), or reading beyond its reload, or far off.
        assert_eq!(elapsed(Counts { ch0: 60_000, ch1: 500 }, Counts { ch0: 50_000, ch1: 500 }), None);
        assert_eq!(elapsed(Counts { ch0: 0, ch1: 65_500 }, Counts { ch0: 0, ch1: 1 }), None);
        let (s, n) = (at(0), at(40_000));
        assert_eq!(elapsed(s, Counts { ch0: n.ch0, ch1: n.ch1 - 32 }), None);
    }

    #[test]
    fn counts_convert_to_nanoseconds() {
        assert_eq!(counts_to_ns(PIT_HZ), 1_000_000_000);
        assert_eq!(counts_to_ns(PIT_HZ / 100), 9_999_312); // 11931 counts
    }
}
