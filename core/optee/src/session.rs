//! Sessions and the TA's entry points.
//!
//! The host calls [`Sessions::open`], [`Sessions::invoke`] and [`Sessions::close`]; each copies
//! the parameters in, enters the TA through [`TaInstance::enter`] (libutee's
//! `__utee_entry(func, session_id, utee_params *, cmd_id)`), and copies them out. A TA that
//! panics (the `Panic` system call, or a fault) is dead: the call that was running and every
//! later one get `TEE_ERROR_TARGET_DEAD` with origin `TEE_ORIGIN_TEE`, as on OP-TEE.

use alloc::collections::BTreeSet;

use crate::abi::{
    EntryFunc, TeeResult, NUM_PARAMS, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_ITEM_NOT_FOUND,
    TEE_ERROR_TARGET_DEAD, TEE_ORIGIN_API, TEE_ORIGIN_TEE, TEE_ORIGIN_TRUSTED_APP, TEE_SUCCESS,
};
use crate::params::{copy_in, copy_out, Param, TaMemory};

/// The TA panicked (`TEE_Panic(code)`) or faulted while running an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Panicked {
    pub code: u32,
}

/// A loaded TA: its memory and a way to run its entry point.
pub trait TaInstance {
    /// The TA's memory, where parameter buffers go.
    fn memory(&mut self) -> &mut dyn TaMemory;
    /// Writes `params` (the 72-byte `utee_params`) into the TA's memory, runs the entry point
    /// with (`func`, `session`, that address, `cmd`) and reads the block back; returns the TA's
    /// result, or [`Panicked`].
    fn enter(
        &mut self,
        func: EntryFunc,
        session: u32,
        params: &mut crate::abi::UteeParams,
        cmd: u32,
    ) -> Result<TeeResult, Panicked>;
}

/// What a client gets back: the result and where it came from (`TEE_ORIGIN_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub result: TeeResult,
    pub origin: u32,
}

impl Outcome {
    fn api(result: TeeResult) -> Self {
        Outcome { result, origin: TEE_ORIGIN_API }
    }
}

/// The sessions open on one TA instance.
pub struct Sessions<T: TaInstance> {
    ta: T,
    open: BTreeSet<u32>,
    next_id: u32,
    dead: Option<Panicked>,
}

impl<T: TaInstance> Sessions<T> {
    /// A table with no sessions over a loaded TA.
    pub fn new(ta: T) -> Self {
        Sessions { ta, open: BTreeSet::new(), next_id: 1, dead: None }
    }

    /// The TA's panic, if it has died.
    pub fn dead(&self) -> Option<Panicked> {
        self.dead
    }

    /// How many sessions are open.
    pub fn count(&self) -> usize {
        self.open.len()
    }

    fn run(&mut self, func: EntryFunc, session: u32, cmd: u32, params: &mut [Param; NUM_PARAMS]) -> Outcome {
        if self.dead.is_some() {
            return Outcome { result: TEE_ERROR_TARGET_DEAD, origin: TEE_ORIGIN_TEE };
        }
        let (mut up, placed) = match copy_in(params, self.ta.memory()) {
            Ok(x) => x,
            Err(e) => return Outcome::api(e),
        };
        match self.ta.enter(func, session, &mut up, cmd) {
            Ok(result) => {
                let result = copy_out(&up, placed, params, self.ta.memory(), result);
                Outcome { result, origin: TEE_ORIGIN_TRUSTED_APP }
            }
            Err(p) => {
                self.dead = Some(p);
                self.open.clear();
                Outcome { result: TEE_ERROR_TARGET_DEAD, origin: TEE_ORIGIN_TEE }
            }
        }
    }

    /// Opens a session (the TA's `TA_OpenSessionEntryPoint`); on success returns its id.
    pub fn open(&mut self, params: &mut [Param; NUM_PARAMS]) -> (Outcome, Option<u32>) {
        let id = self.next_id;
        let out = self.run(EntryFunc::OpenSession, id, 0, params);
        if out.result != TEE_SUCCESS {
            return (out, None);
        }
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.open.insert(id);
        (out, Some(id))
    }

    /// Runs command `cmd` in session `id` (`TA_InvokeCommandEntryPoint`).
    pub fn invoke(&mut self, id: u32, cmd: u32, params: &mut [Param; NUM_PARAMS]) -> Outcome {
        if self.dead.is_some() {
            return Outcome { result: TEE_ERROR_TARGET_DEAD, origin: TEE_ORIGIN_TEE };
        }
        if !self.open.contains(&id) {
            return Outcome::api(TEE_ERROR_ITEM_NOT_FOUND);
        }
        self.run(EntryFunc::InvokeCommand, id, cmd, params)
    }

    /// Closes session `id` (`TA_CloseSessionEntryPoint`); a dead TA's sessions are already gone.
    pub fn close(&mut self, id: u32) -> Outcome {
        if self.dead.is_some() {
            return Outcome { result: TEE_ERROR_TARGET_DEAD, origin: TEE_ORIGIN_TEE };
        }
        if !self.open.remove(&id) {
            return Outcome::api(if id == 0 { TEE_ERROR_BAD_PARAMETERS } else { TEE_ERROR_BAD_STATE });
        }
        let mut none: [Param; NUM_PARAMS] = Default::default();
        self.run(EntryFunc::CloseSession, id, 0, &mut none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{ParamType, UteeParams};
    use crate::params::tests::Arena;

    /// A stand-in TA: command 0 increments value 0 (hello world's contract), command 1 panics.
    struct Hello {
        mem: Arena,
        closed: u32,
    }

    impl TaInstance for Hello {
        fn memory(&mut self) -> &mut dyn TaMemory {
            &mut self.mem
        }
        fn enter(&mut self, func: EntryFunc, _s: u32, up: &mut UteeParams, cmd: u32) -> Result<TeeResult, Panicked> {
            match (func, cmd) {
                (EntryFunc::InvokeCommand, 0) if up.param_type(0) == Some(ParamType::ValueInout) => {
                    up.vals[0] += 1;
                    Ok(TEE_SUCCESS)
                }
                (EntryFunc::InvokeCommand, 0) => Ok(TEE_ERROR_BAD_PARAMETERS),
                (EntryFunc::InvokeCommand, 1) => Err(Panicked { code: 0xdead }),
                (EntryFunc::CloseSession, _) => {
                    self.closed += 1;
                    Ok(TEE_SUCCESS)
                }
                _ => Ok(TEE_SUCCESS),
            }
        }
    }

    fn hello() -> Sessions<Hello> {
        Sessions::new(Hello { mem: Arena::default(), closed: 0 })
    }

    fn value(a: u32) -> [Param; NUM_PARAMS] {
        [Param::value(ParamType::ValueInout, a, 0), Param::default(), Param::default(), Param::default()]
    }

    #[test]
    fn open_invoke_close() {
        let mut s = hello();
        let (out, id) = s.open(&mut Default::default());
        assert_eq!(out.result, TEE_SUCCESS);
        let id = id.unwrap();
        let (_, id2) = s.open(&mut Default::default());
        assert_ne!(Some(id), id2, "each session has its own id");
        let mut p = value(42);
        assert_eq!(s.invoke(id, 0, &mut p), Outcome { result: TEE_SUCCESS, origin: TEE_ORIGIN_TRUSTED_APP });
        assert_eq!(p[0].a, 43);
        let mut bad = [Param::value(ParamType::ValueInput, 1, 0), Param::default(), Param::default(), Param::default()];
        assert_eq!(s.invoke(id, 0, &mut bad).result, TEE_ERROR_BAD_PARAMETERS);
        assert_eq!(s.close(id).result, TEE_SUCCESS);
        assert_eq!(s.ta.closed, 1);
        assert_eq!(s.invoke(id, 0, &mut value(1)), Outcome::api(TEE_ERROR_ITEM_NOT_FOUND));
        assert_eq!(s.close(id).result, TEE_ERROR_BAD_STATE);
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn a_panic_kills_the_ta() {
        let mut s = hello();
        let (_, id) = s.open(&mut Default::default());
        let id = id.unwrap();
        let dead = Outcome { result: TEE_ERROR_TARGET_DEAD, origin: TEE_ORIGIN_TEE };
        assert_eq!(s.invoke(id, 1, &mut Default::default()), dead);
        assert_eq!(s.dead(), Some(Panicked { code: 0xdead }));
        assert_eq!(s.invoke(id, 0, &mut value(1)), dead);
        assert_eq!(s.open(&mut Default::default()).0, dead);
        assert_eq!(s.count(), 0);
    }
}
