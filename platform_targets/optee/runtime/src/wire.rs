//! The TA host's socket protocol (docs/targets/optee.md, "Wire protocol"): length-prefixed
//! little-endian messages. Requests: OPEN (uuid, login, params), INVOKE (session, command,
//! params), CLOSE (session). Replies: result, origin, session, params. A parameter block is
//! the packed types word, then per parameter a value (a, b: u32) or a memref (size: u64,
//! data length: u32, data); output memrefs travel without data on the way in.

use litebox_optee::abi::{ParamType, NUM_PARAMS};
use litebox_optee::params::Param;
use litebox_optee::uuid::TeeUuid;

pub const OP_OPEN: u32 = 1;
pub const OP_INVOKE: u32 = 2;
pub const OP_CLOSE: u32 = 3;
/// The largest message accepted (a bigger one ends the connection).
pub const MAX_MESSAGE: u32 = 64 << 20;

/// A decoded request.
pub enum Request {
    Open { uuid: TeeUuid, params: [Param; NUM_PARAMS] },
    Invoke { session: u32, cmd: u32, params: [Param; NUM_PARAMS] },
    Close { session: u32 },
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
}

fn read_params(r: &mut Reader<'_>) -> Option<[Param; NUM_PARAMS]> {
    let types = r.u32()?;
    if types >> 16 != 0 {
        return None;
    }
    let mut params: [Param; NUM_PARAMS] = Default::default();
    for (i, p) in params.iter_mut().enumerate() {
        let ty = ParamType::from_code((types >> (4 * i)) & 0xF)?;
        if ty == ParamType::None {
            continue;
        }
        if ty.is_memref() {
            let size = r.u64()?;
            let len = r.u32()? as usize;
            let data = r.take(len)?.to_vec();
            if size > u64::from(MAX_MESSAGE) || (ty != ParamType::MemrefOutput && len as u64 != size) {
                return None;
            }
            let mut buf = data;
            buf.resize(size as usize, 0);
            *p = Param { kind: Some(ty), buf, size, ..Param::default() };
        } else {
            let (a, b) = (r.u32()?, r.u32()?);
            *p = Param::value(ty, a, b);
        }
    }
    Some(params)
}

/// Decodes a request body; None when it is malformed.
pub fn decode_request(body: &[u8]) -> Option<Request> {
    let mut r = Reader(body);
    let req = match r.u32()? {
        OP_OPEN => {
            let uuid = TeeUuid::from_be_bytes(r.take(16)?.try_into().ok()?);
            let _login = r.u32()?;
            Request::Open { uuid, params: read_params(&mut r)? }
        }
        OP_INVOKE => {
            let (session, cmd) = (r.u32()?, r.u32()?);
            Request::Invoke { session, cmd, params: read_params(&mut r)? }
        }
        OP_CLOSE => Request::Close { session: r.u32()? },
        _ => return None,
    };
    r.0.is_empty().then_some(req)
}

/// Encodes a reply: result, origin, session and the parameters as the TA left them.
pub fn encode_reply(result: u32, origin: u32, session: u32, params: &[Param; NUM_PARAMS]) -> Vec<u8> {
    let mut out = Vec::new();
    for w in [result, origin, session] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    let mut types = 0u32;
    for (i, p) in params.iter().enumerate() {
        types |= (p.kind.map_or(0, |k| k as u32)) << (4 * i);
    }
    out.extend_from_slice(&types.to_le_bytes());
    for p in params {
        match p.kind {
            None | Some(ParamType::None) => {}
            Some(k) if k.is_memref() => {
                out.extend_from_slice(&p.size.to_le_bytes());
                let data: &[u8] =
                    if k.is_output() && p.size <= p.buf.len() as u64 { &p.buf[..p.size as usize] } else { &[] };
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(data);
            }
            Some(_) => {
                out.extend_from_slice(&p.a.to_le_bytes());
                out.extend_from_slice(&p.b.to_le_bytes());
            }
        }
    }
    let mut framed = (out.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(&out);
    framed
}
