//! `--commands FILE.json`: microsoft/litebox's JSON command lists for OP-TEE TAs. The file is
//! a list of commands `{"func_id": "open_session" | "invoke_command" | "close_session" (or
//! 0 / 2 / 1), "cmd_id": N, "args": [...]}`, each argument `{"param_type": "value_input" |
//! "value_output" | "value_inout" | "memref_input" | "memref_output" | "memref_inout" (or the
//! GP type number), "value_a", "value_b", "data_base64", "buffer_size"}`. After each command
//! the output parameters are printed on stderr as that runner prints them:
//! `output (index: N): 0xA 0xB` for values, and for memrefs the buffer's address, then its
//! bytes (fewer than 16), or its first 16 bytes and `... (total LEN bytes)`.

use litebox_optee::abi::{ParamType, NUM_PARAMS, TEE_SUCCESS};
use litebox_optee::params::Param;
use serde_json::Value;

use crate::tahost::TaHost;

enum Func {
    Open,
    Invoke,
    Close,
}

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return Err(format!("data_base64: {:?} is not a base64 character", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

fn number(v: &Value, key: &str, default: Option<u64>) -> Result<u64, String> {
    match v.get(key) {
        Some(n) => n.as_u64().ok_or_else(|| format!("{key}: not a non-negative integer")),
        None => default.ok_or_else(|| format!("{key}: missing")),
    }
}

fn param(v: &Value) -> Result<Param, String> {
    let ty = match v.get("param_type") {
        Some(Value::String(s)) => match s.as_str() {
            "none" => ParamType::None,
            "value_input" => ParamType::ValueInput,
            "value_output" => ParamType::ValueOutput,
            "value_inout" => ParamType::ValueInout,
            "memref_input" => ParamType::MemrefInput,
            "memref_output" => ParamType::MemrefOutput,
            "memref_inout" => ParamType::MemrefInout,
            other => return Err(format!("param_type: unknown {other:?}")),
        },
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .and_then(ParamType::from_code)
            .ok_or_else(|| format!("param_type: unknown {n}"))?,
        _ => return Err("param_type: missing".into()),
    };
    Ok(match ty {
        ParamType::None => Param::default(),
        ParamType::ValueInput | ParamType::ValueInout => {
            Param::value(ty, number(v, "value_a", Some(0))? as u32, number(v, "value_b", Some(0))? as u32)
        }
        ParamType::ValueOutput => Param::value(ty, 0, 0),
        ParamType::MemrefInput => Param::memref(ty, data(v)?),
        ParamType::MemrefOutput => Param::memref(ty, vec![0; number(v, "buffer_size", None)? as usize]),
        ParamType::MemrefInout => {
            let mut d = data(v)?;
            let size = number(v, "buffer_size", Some(d.len() as u64))? as usize;
            if size < d.len() {
                return Err("buffer_size is smaller than the data".into());
            }
            d.resize(size, 0);
            Param::memref(ty, d)
        }
    })
}

fn data(v: &Value) -> Result<Vec<u8>, String> {
    decode_base64(v.get("data_base64").and_then(Value::as_str).ok_or("data_base64: missing")?)
}

fn print_outputs(params: &[Param; NUM_PARAMS]) {
    for (i, p) in params.iter().enumerate() {
        let Some(ty) = p.kind.filter(|t| t.is_output()) else { continue };
        if !ty.is_memref() {
            eprintln!("output (index: {i}): {:#x} {:#x}", p.a, p.b);
            continue;
        }
        let n = (p.size as usize).min(p.buf.len());
        let bytes = &p.buf[..n];
        if bytes.is_empty() {
            eprintln!("output (index: {i}): {:#x}", p.addr);
        } else if bytes.len() < 16 {
            eprintln!("output (index: {i}): {:#x} {:?}", p.addr, bytes);
        } else {
            eprintln!("output (index: {i}): {:#x} {:?}... (total {} bytes)", p.addr, &bytes[..16], bytes.len());
        }
    }
}

/// Runs the command list in `text` against `ta`; Ok(true) when every command succeeded.
pub fn run(ta: &mut TaHost, text: &str) -> Result<bool, String> {
    let list: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = list.as_array().ok_or("the command list must be a JSON array")?;
    let mut session = None;
    let mut all_ok = true;
    for (n, cmd) in list.iter().enumerate() {
        let at = |e: String| format!("command {n}: {e}");
        let func = match cmd.get("func_id") {
            Some(Value::String(s)) if s == "open_session" => Func::Open,
            Some(Value::String(s)) if s == "invoke_command" => Func::Invoke,
            Some(Value::String(s)) if s == "close_session" => Func::Close,
            Some(Value::Number(x)) if x.as_u64() == Some(0) => Func::Open,
            Some(Value::Number(x)) if x.as_u64() == Some(1) => Func::Close,
            Some(Value::Number(x)) if x.as_u64() == Some(2) => Func::Invoke,
            _ => return Err(at("func_id: expected open_session, invoke_command or close_session".into())),
        };
        let cmd_id = number(cmd, "cmd_id", Some(0)).map_err(at)? as u32;
        let args = match cmd.get("args") {
            None => Vec::new(),
            Some(Value::Array(a)) if a.len() <= NUM_PARAMS => a.clone(),
            Some(_) => return Err(at("args: a list of at most four parameters".into())),
        };
        let mut params: [Param; NUM_PARAMS] = Default::default();
        for (p, a) in params.iter_mut().zip(&args) {
            *p = param(a).map_err(at)?;
        }
        let (name, out) = match func {
            Func::Open => {
                let (out, id) = ta.open(&ta.head.uuid.clone(), &mut params);
                session = id;
                ("open_session", out)
            }
            Func::Invoke => {
                let Some(id) = session else { return Err(at("invoke_command with no open session".into())) };
                ("invoke_command", ta.invoke(id, cmd_id, &mut params))
            }
            Func::Close => {
                let Some(id) = session.take() else { return Err(at("close_session with no open session".into())) };
                ("close_session", ta.close(id))
            }
        };
        if out.result == TEE_SUCCESS {
            print_outputs(&params);
        } else {
            all_ok = false;
            eprintln!("command {n} ({name} {cmd_id}): error {:#010x} (origin {})", out.result, out.origin);
        }
    }
    if let Some(id) = session {
        ta.close(id);
    }
    Ok(all_ok)
}
