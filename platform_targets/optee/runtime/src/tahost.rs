//! The TA as a service: one instance of the packed TA at a time, the client-visible session
//! ids, and OP-TEE's life cycle (a TA that panicked is dead: its sessions answer
//! `TEE_ERROR_TARGET_DEAD`; the next open session loads a fresh instance; a TA without
//! `TA_FLAG_INSTANCE_KEEP_ALIVE` is unloaded when its last session closes).

use std::collections::HashMap;
use std::path::PathBuf;

use litebox_optee::abi::{
    NUM_PARAMS, TEE_ERROR_BUSY, TEE_ERROR_GENERIC, TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_TARGET_DEAD, TEE_ORIGIN_API,
    TEE_ORIGIN_TEE,
};
use litebox_optee::params::Param;
use litebox_optee::session::{Outcome, Sessions};
use litebox_optee::tahead::{TaHead, TA_FLAG_INSTANCE_KEEP_ALIVE, TA_FLAG_MULTI_SESSION};
use litebox_optee::uuid::TeeUuid;

use crate::host::Host;
use crate::instance::Instance;
use crate::loader::Window;

/// The packed TA and its sessions.
pub struct TaHost {
    image: Vec<u8>,
    pub head: TaHead,
    window: Window,
    storage: Option<PathBuf>,
    quiet: bool,
    current: Option<Sessions<Instance>>,
    generation: u64,
    sessions: HashMap<u32, (u64, u32)>,
    next_id: u32,
}

fn tee(result: u32) -> Outcome {
    Outcome { result, origin: TEE_ORIGIN_TEE }
}

impl TaHost {
    /// A host for TA `image` with `.ta_head` `head`, its secure storage in `storage`.
    pub fn new(image: Vec<u8>, head: TaHead, window: Window, storage: Option<PathBuf>, quiet: bool) -> Self {
        TaHost {
            image,
            head,
            window,
            storage,
            quiet,
            current: None,
            generation: 0,
            sessions: HashMap::new(),
            next_id: 1,
        }
    }

    fn instance(&mut self) -> Result<&mut Sessions<Instance>, String> {
        if self.current.as_ref().is_some_and(|s| s.dead().is_some()) {
            self.current = None;
        }
        if self.current.is_none() {
            let host = Host::new(self.storage.clone(), self.quiet);
            let inst = Instance::load(&self.window, &self.image, &self.head, host)?;
            self.generation += 1;
            self.current = Some(Sessions::new(inst));
        }
        self.current.as_mut().ok_or_else(|| "no TA instance".to_string())
    }

    /// Opens a session on TA `uuid`; returns the outcome and the new session's id.
    pub fn open(&mut self, uuid: &TeeUuid, params: &mut [Param; NUM_PARAMS]) -> (Outcome, Option<u32>) {
        if *uuid != self.head.uuid {
            return (tee(TEE_ERROR_ITEM_NOT_FOUND), None);
        }
        let multi = self.head.flags & TA_FLAG_MULTI_SESSION != 0;
        let sessions = match self.instance() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("litebox-optee: cannot load the TA: {e}");
                return (tee(TEE_ERROR_GENERIC), None);
            }
        };
        if !multi && sessions.count() > 0 {
            return (tee(TEE_ERROR_BUSY), None);
        }
        let (out, internal) = sessions.open(params);
        let Some(internal) = internal else { return (out, None) };
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.sessions.insert(id, (self.generation, internal));
        (out, Some(id))
    }

    fn live(&mut self, id: u32) -> Result<u32, Outcome> {
        let Some(&(generation, internal)) = self.sessions.get(&id) else {
            return Err(Outcome { result: TEE_ERROR_ITEM_NOT_FOUND, origin: TEE_ORIGIN_API });
        };
        match &self.current {
            Some(s) if generation == self.generation && s.dead().is_none() => Ok(internal),
            _ => Err(tee(TEE_ERROR_TARGET_DEAD)),
        }
    }

    /// Runs command `cmd` in session `id`.
    pub fn invoke(&mut self, id: u32, cmd: u32, params: &mut [Param; NUM_PARAMS]) -> Outcome {
        let internal = match self.live(id) {
            Ok(i) => i,
            Err(out) => return out,
        };
        match self.current.as_mut() {
            Some(s) => s.invoke(internal, cmd, params),
            None => tee(TEE_ERROR_TARGET_DEAD),
        }
    }

    /// Closes session `id`.
    pub fn close(&mut self, id: u32) -> Outcome {
        let internal = match self.live(id) {
            Ok(i) => i,
            Err(out) => {
                self.sessions.remove(&id);
                return out;
            }
        };
        self.sessions.remove(&id);
        let keep = self.head.flags & TA_FLAG_INSTANCE_KEEP_ALIVE != 0;
        let Some(s) = self.current.as_mut() else { return tee(TEE_ERROR_TARGET_DEAD) };
        let out = s.close(internal);
        if s.count() == 0 && !keep {
            self.current = None;
        }
        out
    }
}
