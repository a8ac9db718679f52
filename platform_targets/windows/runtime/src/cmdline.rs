//! The artifact's arguments and environment as the Linux app gets them: UTF-8 bytes from the
//! Windows command line (split by the rules of CommandLineToArgvW) and environment block.
use alloc::vec::Vec;

use crate::win;

/// UTF-16 (WTF-16: unpaired surrogates become U+FFFD) to UTF-8 bytes.
pub fn utf16_to_utf8(units: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len());
    for c in char::decode_utf16(units.iter().copied()) {
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out
}

/// Splits a command line the way CommandLineToArgvW does (the first word ends at the first
/// space or tab unless quoted; then backslashes before a quote escape it in pairs, quotes
/// group, `""` inside a group is a literal quote).
pub fn split(line: &[u16]) -> Vec<Vec<u16>> {
    let (sp, tab, quote, bs) = (b' ' as u16, b'\t' as u16, b'"' as u16, b'\\' as u16);
    let mut args = Vec::new();
    let mut i = 0;
    // The program name: no escapes.
    let mut first = Vec::new();
    let mut quoted = false;
    while i < line.len() {
        let c = line[i];
        if c == quote {
            quoted = !quoted;
        } else if (c == sp || c == tab) && !quoted {
            break;
        } else {
            first.push(c);
        }
        i += 1;
    }
    args.push(first);
    loop {
        while i < line.len() && (line[i] == sp || line[i] == tab) {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let mut arg = Vec::new();
        let mut quoted = false;
        while i < line.len() {
            let c = line[i];
            if c == bs {
                let start = i;
                while i < line.len() && line[i] == bs {
                    i += 1;
                }
                let n = i - start;
                if i < line.len() && line[i] == quote {
                    arg.extend(core::iter::repeat_n(bs, n / 2));
                    if n % 2 == 1 {
                        arg.push(quote);
                        i += 1;
                    }
                } else {
                    arg.extend(core::iter::repeat_n(bs, n));
                }
                continue;
            }
            if c == quote {
                if quoted && line.get(i + 1) == Some(&quote) {
                    arg.push(quote);
                    i += 2;
                    continue;
                }
                quoted = !quoted;
                i += 1;
                continue;
            }
            if (c == sp || c == tab) && !quoted {
                break;
            }
            arg.push(c);
            i += 1;
        }
        args.push(arg);
    }
    args
}

/// argv of this process in UTF-8.
pub fn args() -> Vec<Vec<u8>> {
    // SAFETY: GetCommandLineW returns a NUL-terminated string that lives as long as the process.
    let line = unsafe { terminated(win::GetCommandLineW()) };
    split(line).iter().map(|a| utf16_to_utf8(a)).collect()
}

/// The environment in UTF-8 `NAME=value` strings (Windows' hidden `=C:=...` entries left out).
pub fn env() -> Vec<Vec<u8>> {
    // SAFETY: the block is a sequence of NUL-terminated strings ending with an empty one.
    let mut p = unsafe { win::GetEnvironmentStringsW() };
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    loop {
        // SAFETY: p points at the next string of the block.
        let s = unsafe { terminated(p) };
        if s.is_empty() {
            break;
        }
        if s[0] != b'=' as u16 {
            out.push(utf16_to_utf8(s));
        }
        // SAFETY: the string and its terminator are inside the block.
        p = unsafe { p.add(s.len() + 1) };
    }
    out
}

/// # Safety
/// `p` must point at a NUL-terminated UTF-16 string that lives for the whole process.
unsafe fn terminated(p: *const u16) -> &'static [u16] {
    let mut n = 0;
    // SAFETY: per the contract, the terminator is reached before the end of the string's memory.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: n units are readable.
    unsafe { core::slice::from_raw_parts(p, n) }
}
