//! The utee system-call ABI of x86-64 TAs.
//!
//! A TA issues a system call with the `syscall` instruction: the call number in `rax`, up to
//! eight arguments in `rdi, rsi, rdx, r10, r8, r9, r12, r13` (the Linux order, extended by two
//! callee-saved registers for the calls that take seven or eight), the result (a
//! [`TeeResult`]) back in `rax`. The numbers are OP-TEE's `tee_syscall_numbers.h`.

/// The registers that carry system-call arguments 0..8, in order.
pub const ARG_REGISTERS: [&str; 8] = ["rdi", "rsi", "rdx", "r10", "r8", "r9", "r12", "r13"];

/// A GlobalPlatform `TEE_Result`.
pub type TeeResult = u32;

pub const TEE_SUCCESS: TeeResult = 0x0000_0000;
pub const TEE_ERROR_CORRUPT_OBJECT: TeeResult = 0xF010_0001;
pub const TEE_ERROR_STORAGE_NOT_AVAILABLE: TeeResult = 0xF010_0003;
pub const TEE_ERROR_GENERIC: TeeResult = 0xFFFF_0000;
pub const TEE_ERROR_ACCESS_DENIED: TeeResult = 0xFFFF_0001;
pub const TEE_ERROR_CANCEL: TeeResult = 0xFFFF_0002;
pub const TEE_ERROR_ACCESS_CONFLICT: TeeResult = 0xFFFF_0003;
pub const TEE_ERROR_EXCESS_DATA: TeeResult = 0xFFFF_0004;
pub const TEE_ERROR_BAD_FORMAT: TeeResult = 0xFFFF_0005;
pub const TEE_ERROR_BAD_PARAMETERS: TeeResult = 0xFFFF_0006;
pub const TEE_ERROR_BAD_STATE: TeeResult = 0xFFFF_0007;
pub const TEE_ERROR_ITEM_NOT_FOUND: TeeResult = 0xFFFF_0008;
pub const TEE_ERROR_NOT_IMPLEMENTED: TeeResult = 0xFFFF_0009;
pub const TEE_ERROR_NOT_SUPPORTED: TeeResult = 0xFFFF_000A;
pub const TEE_ERROR_NO_DATA: TeeResult = 0xFFFF_000B;
pub const TEE_ERROR_OUT_OF_MEMORY: TeeResult = 0xFFFF_000C;
pub const TEE_ERROR_BUSY: TeeResult = 0xFFFF_000D;
pub const TEE_ERROR_COMMUNICATION: TeeResult = 0xFFFF_000E;
pub const TEE_ERROR_SECURITY: TeeResult = 0xFFFF_000F;
pub const TEE_ERROR_SHORT_BUFFER: TeeResult = 0xFFFF_0010;
pub const TEE_ERROR_OVERFLOW: TeeResult = 0xFFFF_300F;
pub const TEE_ERROR_TARGET_DEAD: TeeResult = 0xFFFF_3024;
pub const TEE_ERROR_STORAGE_NO_SPACE: TeeResult = 0xFFFF_3041;
pub const TEE_ERROR_MAC_INVALID: TeeResult = 0xFFFF_3071;
pub const TEE_ERROR_SIGNATURE_INVALID: TeeResult = 0xFFFF_3072;

/// Where a result came from (`TEE_ORIGIN_*`, the client's `returnOrigin`).
pub const TEE_ORIGIN_API: u32 = 1;
pub const TEE_ORIGIN_COMMS: u32 = 2;
pub const TEE_ORIGIN_TEE: u32 = 3;
pub const TEE_ORIGIN_TRUSTED_APP: u32 = 4;

/// The utee system calls (OP-TEE `tee_syscall_numbers.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Syscall {
    Return = 0,
    Log = 1,
    Panic = 2,
    GetProperty = 3,
    GetPropertyNameToIndex = 4,
    OpenTaSession = 5,
    CloseTaSession = 6,
    InvokeTaCommand = 7,
    CheckAccessRights = 8,
    GetCancellationFlag = 9,
    UnmaskCancellation = 10,
    MaskCancellation = 11,
    Wait = 12,
    GetTime = 13,
    SetTaTime = 14,
    CrypStateAlloc = 15,
    CrypStateCopy = 16,
    CrypStateFree = 17,
    HashInit = 18,
    HashUpdate = 19,
    HashFinal = 20,
    CipherInit = 21,
    CipherUpdate = 22,
    CipherFinal = 23,
    CrypObjGetInfo = 24,
    CrypObjRestrictUsage = 25,
    CrypObjGetAttr = 26,
    CrypObjAlloc = 27,
    CrypObjClose = 28,
    CrypObjReset = 29,
    CrypObjPopulate = 30,
    CrypObjCopy = 31,
    CrypDeriveKey = 32,
    CrypRandomNumberGenerate = 33,
    AuthencInit = 34,
    AuthencUpdateAad = 35,
    AuthencUpdatePayload = 36,
    AuthencEncFinal = 37,
    AuthencDecFinal = 38,
    AsymmOperate = 39,
    AsymmVerify = 40,
    StorageObjOpen = 41,
    StorageObjCreate = 42,
    StorageObjDel = 43,
    StorageObjRename = 44,
    StorageAllocEnum = 45,
    StorageFreeEnum = 46,
    StorageResetEnum = 47,
    StorageStartEnum = 48,
    StorageNextEnum = 49,
    StorageObjRead = 50,
    StorageObjWrite = 51,
    StorageObjTrunc = 52,
    StorageObjSeek = 53,
    ObjGenerateKey = 54,
    CacheOperation = 70,
}

impl Syscall {
    /// The call with number `nr`, or None for a number OP-TEE does not define (the caller
    /// answers such a call with `TEE_ERROR_NOT_SUPPORTED`).
    pub fn from_number(nr: u64) -> Option<Self> {
        use Syscall::*;
        const TABLE: [Syscall; 55] = [
            Return,
            Log,
            Panic,
            GetProperty,
            GetPropertyNameToIndex,
            OpenTaSession,
            CloseTaSession,
            InvokeTaCommand,
            CheckAccessRights,
            GetCancellationFlag,
            UnmaskCancellation,
            MaskCancellation,
            Wait,
            GetTime,
            SetTaTime,
            CrypStateAlloc,
            CrypStateCopy,
            CrypStateFree,
            HashInit,
            HashUpdate,
            HashFinal,
            CipherInit,
            CipherUpdate,
            CipherFinal,
            CrypObjGetInfo,
            CrypObjRestrictUsage,
            CrypObjGetAttr,
            CrypObjAlloc,
            CrypObjClose,
            CrypObjReset,
            CrypObjPopulate,
            CrypObjCopy,
            CrypDeriveKey,
            CrypRandomNumberGenerate,
            AuthencInit,
            AuthencUpdateAad,
            AuthencUpdatePayload,
            AuthencEncFinal,
            AuthencDecFinal,
            AsymmOperate,
            AsymmVerify,
            StorageObjOpen,
            StorageObjCreate,
            StorageObjDel,
            StorageObjRename,
            StorageAllocEnum,
            StorageFreeEnum,
            StorageResetEnum,
            StorageStartEnum,
            StorageNextEnum,
            StorageObjRead,
            StorageObjWrite,
            StorageObjTrunc,
            StorageObjSeek,
            ObjGenerateKey,
        ];
        match nr {
            70 => Some(CacheOperation),
            n if (n as usize) < TABLE.len() => Some(TABLE[n as usize]),
            _ => None,
        }
    }
}

/// The entry-point selector libutee's `__utee_entry(func, session_id, up, cmd_id)` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum EntryFunc {
    OpenSession = 0,
    CloseSession = 1,
    InvokeCommand = 2,
}

/// The parameter types (`TEE_PARAM_TYPE_*`), four bits each in a packed `paramTypes` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ParamType {
    None = 0,
    ValueInput = 1,
    ValueOutput = 2,
    ValueInout = 3,
    MemrefInput = 5,
    MemrefOutput = 6,
    MemrefInout = 7,
}

impl ParamType {
    /// The type with code `code`, or None for a code GP does not define (4 and 8..15).
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => ParamType::None,
            1 => ParamType::ValueInput,
            2 => ParamType::ValueOutput,
            3 => ParamType::ValueInout,
            5 => ParamType::MemrefInput,
            6 => ParamType::MemrefOutput,
            7 => ParamType::MemrefInout,
            _ => return None,
        })
    }

    /// True for the three memref types.
    pub fn is_memref(self) -> bool {
        matches!(self, ParamType::MemrefInput | ParamType::MemrefOutput | ParamType::MemrefInout)
    }

    /// True when the TA may write the parameter (the client sees it after the call).
    pub fn is_output(self) -> bool {
        matches!(
            self,
            ParamType::ValueOutput | ParamType::ValueInout | ParamType::MemrefOutput | ParamType::MemrefInout
        )
    }
}

/// Packs four parameter types into a `paramTypes` word (`TEE_PARAM_TYPES(t0, t1, t2, t3)`).
pub const fn param_types(t: [ParamType; 4]) -> u32 {
    (t[0] as u32) | ((t[1] as u32) << 4) | ((t[2] as u32) << 8) | ((t[3] as u32) << 12)
}

/// Number of parameters of every entry point and client call.
pub const NUM_PARAMS: usize = 4;

/// `struct utee_params` (libutee `utee_types.h`): the parameter block the TA's entry point
/// receives a pointer to. `types` holds four 4-bit types; `vals[2n]`, `vals[2n+1]` are value
/// `a`, `b` or a memref's address and size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UteeParams {
    pub types: u64,
    pub vals: [u64; NUM_PARAMS * 2],
}

/// `sizeof(struct utee_params)` on x86-64.
pub const UTEE_PARAMS_SIZE: usize = 72;

impl UteeParams {
    /// The type of parameter `index` (< 4), or None when the code is not a GP type.
    pub fn param_type(&self, index: usize) -> Option<ParamType> {
        ParamType::from_code(((self.types >> (4 * index)) & 0xF) as u32)
    }

    /// The block as the TA's memory holds it (little-endian, 72 bytes).
    pub fn to_bytes(&self) -> [u8; UTEE_PARAMS_SIZE] {
        let mut out = [0u8; UTEE_PARAMS_SIZE];
        out[..8].copy_from_slice(&self.types.to_le_bytes());
        for (i, v) in self.vals.iter().enumerate() {
            out[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Decodes a block read from the TA's memory.
    pub fn from_bytes(bytes: &[u8; UTEE_PARAMS_SIZE]) -> Self {
        let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().unwrap_or([0; 8]));
        let mut vals = [0u64; NUM_PARAMS * 2];
        for (i, v) in vals.iter_mut().enumerate() {
            *v = word(i + 1);
        }
        UteeParams { types: word(0), vals }
    }
}

/// GP property sets (`TEE_PROPSET_*` pseudo-handles as libutee passes them).
pub const TEE_PROPSET_TEE_IMPLEMENTATION: u64 = 0xFFFF_FFFD;
pub const TEE_PROPSET_CURRENT_CLIENT: u64 = 0xFFFF_FFFE;
pub const TEE_PROPSET_CURRENT_TA: u64 = 0xFFFF_FFFF;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utee_params_is_72_bytes_and_round_trips() {
        assert_eq!(core::mem::size_of::<UteeParams>(), UTEE_PARAMS_SIZE);
        let p = UteeParams { types: 0x0061, vals: [1, 2, 0x7000_1000, 64, 0, 0, 0, 0] };
        let bytes = p.to_bytes();
        assert_eq!(&bytes[..8], &[0x61, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[24..32], &0x7000_1000u64.to_le_bytes());
        assert_eq!(UteeParams::from_bytes(&bytes), p);
        assert_eq!(p.param_type(0), Some(ParamType::ValueInput));
        assert_eq!(p.param_type(1), Some(ParamType::MemrefOutput));
        assert_eq!(p.param_type(2), Some(ParamType::None));
    }

    #[test]
    fn syscall_numbers_match_optee() {
        assert_eq!(Syscall::from_number(0), Some(Syscall::Return));
        assert_eq!(Syscall::from_number(2), Some(Syscall::Panic));
        assert_eq!(Syscall::from_number(12), Some(Syscall::Wait));
        assert_eq!(Syscall::from_number(33), Some(Syscall::CrypRandomNumberGenerate));
        assert_eq!(Syscall::from_number(54), Some(Syscall::ObjGenerateKey));
        assert_eq!(Syscall::from_number(70), Some(Syscall::CacheOperation));
        assert_eq!(Syscall::from_number(55), None);
        for n in 0..=54u64 {
            assert_eq!(Syscall::from_number(n).map(|s| s as u64), Some(n));
        }
    }

    #[test]
    fn param_types_pack_like_the_gp_macro() {
        use ParamType::*;
        assert_eq!(param_types([ValueInout, None, None, None]), 0x3);
        assert_eq!(param_types([MemrefInput, MemrefOutput, ValueInput, None]), 0x165);
        assert_eq!(ParamType::from_code(4), Option::None);
    }
}
