//! The app's process table, for platforms where the library OS runs every process of the app
//! itself (kvm, snp; a platform with [`crate::platform::HostPassthrough`] has host processes and
//! the host's table instead). One table for the whole app: who is whose parent, process groups
//! and sessions, the wait status of a process that has exited (a zombie) until its parent
//! reaps it, the signal state of each process (so any process can signal another), and the
//! `[policy.limits] processes` count.
//!
//! The table knows no memory or threads: the platform keeps those per pid and frees them when
//! the core reaps a process ([`crate::Platform::release_process`]). Rules follow Linux:
//! setpgid(2), setsid(2), kill(2) and wait4(2)/waitid(2) target selection, reparenting of
//! orphans (to the nearest ancestor that is a child subreaper, else to nobody: the kernel
//! reaps them, as a subreaper that never waits would not),
//! and no zombie for a parent that ignores SIGCHLD.
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::errno::*;
use crate::signal::{Signals, SIGCHLD};
use crate::sync::SpinMutex;

/// One process of the app.
#[derive(Clone)]
pub struct Proc {
    pub pid: i32,
    /// 0 once orphaned (or for the first process).
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// The wait status once it has exited (a zombie): exit code << 8, or the signal number.
    pub status: Option<i32>,
    /// Whether it ran execve since its fork (setpgid by its parent is then EACCES).
    pub execed: bool,
    /// Stopped by a stop signal and not continued since (`T` in /proc/PID/stat).
    pub stopped: bool,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants become its children.
    pub subreaper: bool,
    /// Its name (/proc/PID/comm, at most 15 bytes) and arguments (/proc/PID/cmdline, each
    /// ended by a NUL), as the process itself last published them ([`Table::publish`]).
    pub comm: Vec<u8>,
    pub cmdline: Vec<u8>,
    /// Its program's path (/proc/PID/exe), as it last published it.
    pub exe: Vec<u8>,
    pub signals: Arc<Signals>,
}

/// Which children a wait4/waitid call waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// Any child.
    Any,
    /// The child with this pid.
    Pid(i32),
    /// Any child in this process group.
    Group(i32),
}

/// What a look for a waitable child found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waitable {
    /// No child matches (ECHILD).
    NoChild,
    /// Children match, none has exited yet.
    NotYet,
    /// This child has exited: (pid, wait status).
    Exited(i32, i32),
}

/// What became of a process's exit (see [`Table::exit`]).
pub struct ExitNotice {
    /// The live parent to send SIGCHLD to (None: orphan, or the parent ignores SIGCHLD and
    /// the process was reaped at once).
    pub notify: Option<(i32, Arc<Signals>)>,
    /// The subreaper that adopted children of the process that had already exited (zombies
    /// it can reap now), to send SIGCHLD to.
    pub adopter: Option<(i32, Arc<Signals>)>,
}

/// The process table (see the module docs).
pub struct Table {
    procs: Vec<Proc>,
    limit: u64,
    /// Stops and continues of processes not yet reported to a wait with WUNTRACED or
    /// WCONTINUED: (pid, wait status).
    changes: Vec<(i32, i32)>,
}

/// The app's process table.
pub static TABLE: SpinMutex<Table> = SpinMutex::new(Table::new());

impl Default for Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Table {
    /// An empty table with no process limit.
    pub const fn new() -> Self {
        Table { procs: Vec::new(), limit: u64::MAX, changes: Vec::new() }
    }

    /// Registers the app's first process: its own group and session leader (as a container's
    /// first process is), no parent.
    pub fn add_first(&mut self, pid: i32, signals: Arc<Signals>) {
        self.procs.push(Proc {
            pid,
            ppid: 0,
            pgid: pid,
            sid: pid,
            status: None,
            execed: false,
            stopped: false,
            subreaper: false,
            comm: Vec::new(),
            cmdline: Vec::new(),
            exe: Vec::new(),
            signals,
        });
    }

    /// Sets `[policy.limits] processes`: at most `n` live processes (zombies do not count).
    pub fn set_limit(&mut self, n: u64) {
        self.limit = n;
    }

    /// Live (not exited) processes.
    pub fn live(&self) -> usize {
        self.procs.iter().filter(|p| p.status.is_none()).count()
    }

    /// EAGAIN when a fork now would pass the process limit.
    pub fn check_limit(&self) -> Result<(), Errno> {
        if self.live() as u64 >= self.limit {
            Err(EAGAIN)
        } else {
            Ok(())
        }
    }

    /// Registers `child`, forked by `parent`: same group and session as its parent. EAGAIN at
    /// the process limit; ESRCH if `parent` is not a live process of the table.
    pub fn fork(&mut self, parent: i32, child: i32, signals: Arc<Signals>) -> Result<(), Errno> {
        self.check_limit()?;
        let p = self.get(parent).filter(|p| p.status.is_none()).ok_or(ESRCH)?;
        let (pgid, sid, comm, cmdline, exe) = (p.pgid, p.sid, p.comm.clone(), p.cmdline.clone(), p.exe.clone());
        self.procs.push(Proc {
            pid: child,
            ppid: parent,
            pgid,
            sid,
            status: None,
            execed: false,
            stopped: false,
            subreaper: false,
            comm,
            cmdline,
            exe,
            signals,
        });
        Ok(())
    }

    /// `pid` is the table's only entry (no other process, live or zombie).
    pub fn alone(&self, pid: i32) -> bool {
        matches!(self.procs.as_slice(), [p] if p.pid == pid)
    }

    /// The entry of `pid`, live or zombie.
    pub fn get(&self, pid: i32) -> Option<&Proc> {
        self.procs.iter().find(|p| p.pid == pid)
    }

    fn get_mut(&mut self, pid: i32) -> Option<&mut Proc> {
        self.procs.iter_mut().find(|p| p.pid == pid)
    }

    /// getppid of `pid` (0 for the first process and orphans).
    pub fn parent_of(&self, pid: i32) -> i32 {
        self.get(pid).map_or(0, |p| p.ppid)
    }

    /// Records the name and arguments `pid` shows in /proc (at each program load and
    /// PR_SET_NAME); a fork child starts with its parent's.
    pub fn publish(&mut self, pid: i32, comm: &[u8], cmdline: &[u8]) {
        if let Some(p) = self.get_mut(pid) {
            p.comm = comm.to_vec();
            p.cmdline = cmdline.to_vec();
        }
    }

    /// Records process `pid`'s program path (/proc/PID/exe).
    pub fn set_exe(&mut self, pid: i32, exe: &[u8]) {
        if let Some(p) = self.get_mut(pid) {
            p.exe = exe.to_vec();
        }
    }

    /// Every pid of the table, live or zombie, in increasing order (the /proc listing).
    pub fn pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.procs.iter().map(|p| p.pid).collect();
        v.sort_unstable();
        v
    }

    /// Records that `pid` ran execve.
    pub fn mark_exec(&mut self, pid: i32) {
        if let Some(p) = self.get_mut(pid) {
            p.execed = true;
        }
    }

    /// Records that `pid` ran execve into a new host process whose signals are `signals` (the
    /// windows platform, whose fork child shares its parent's signal state until it execs).
    pub fn mark_exec_with(&mut self, pid: i32, signals: Arc<Signals>) {
        if let Some(p) = self.get_mut(pid) {
            p.execed = true;
            p.signals = signals;
        }
    }

    /// Sets or clears PR_SET_CHILD_SUBREAPER for `pid` (a fork child starts without it).
    pub fn set_subreaper(&mut self, pid: i32, on: bool) {
        if let Some(p) = self.get_mut(pid) {
            p.subreaper = on;
        }
    }

    /// The nearest live ancestor of `pid` that is a child subreaper (0: none).
    fn subreaper_above(&self, pid: i32) -> i32 {
        let mut at = self.get(pid).map_or(0, |p| p.ppid);
        for _ in 0..self.procs.len() {
            match self.get(at) {
                Some(p) if p.status.is_none() && p.subreaper => return at,
                Some(p) => at = p.ppid,
                None => return 0,
            }
        }
        0
    }

    /// `pid` exited with wait `status`: it becomes a zombie, its children orphans (adopted by
    /// the nearest subreaper above it, if any); its live
    /// parent gets SIGCHLD, unless the parent ignores SIGCHLD, in which case the process is
    /// orphaned at once (no zombie; the platform frees it with [`Table::take_orphan_zombies`]).
    pub fn exit(&mut self, pid: i32, status: i32) -> ExitNotice {
        self.changes.retain(|&(p, _)| p != pid);
        let heir = self.subreaper_above(pid);
        let mut ppid = 0;
        let mut adopted_zombie = false;
        for p in self.procs.iter_mut() {
            if p.ppid == pid {
                p.ppid = heir;
                adopted_zombie |= p.status.is_some();
            }
            if p.pid == pid {
                p.status = Some(status);
                ppid = p.ppid;
            }
        }
        let parent = self.get(ppid).filter(|p| p.status.is_none()).map(|p| p.signals.clone());
        let notify = match parent {
            Some(s) if s.actions.lock().get(SIGCHLD).handler != 1 => Some((ppid, s)),
            _ => {
                if let Some(p) = self.get_mut(pid) {
                    p.ppid = 0;
                }
                None
            }
        };
        let adopter = self.get(heir).filter(|_| adopted_zombie && heir != 0).map(|p| (heir, p.signals.clone()));
        ExitNotice { notify, adopter }
    }

    /// Process `pid` stopped (wait `status` `(sig << 8) | 0x7f`) or continued (`0xffff`): the
    /// report for its parent's next wait with WUNTRACED or WCONTINUED (replacing an unreported
    /// one). Returns the live parent, to send SIGCHLD to.
    pub fn report_change(&mut self, pid: i32, status: i32) -> Option<(i32, Arc<Signals>)> {
        self.changes.retain(|&(p, _)| p != pid);
        if let Some(p) = self.get_mut(pid) {
            p.stopped = status != 0xffff;
        }
        let ppid = self.get(pid).filter(|p| p.status.is_none())?.ppid;
        self.changes.push((pid, status));
        self.get(ppid).filter(|p| p.status.is_none()).map(|p| (ppid, p.signals.clone()))
    }

    /// The first unreported stop (with `stopped`) or continue (with `continued`) of a live child
    /// of `parent` matching `which`: (pid, wait status), taken unless `keep`.
    pub fn find_changed(
        &mut self,
        parent: i32,
        which: WaitFor,
        stopped: bool,
        continued: bool,
        keep: bool,
    ) -> Option<(i32, i32)> {
        let procs = &self.procs;
        let at = self.changes.iter().position(|&(pid, status)| {
            let wanted = if status == 0xffff { continued } else { stopped };
            wanted
                && procs.iter().any(|p| {
                    p.pid == pid
                        && p.ppid == parent
                        && p.status.is_none()
                        && match which {
                            WaitFor::Any => true,
                            WaitFor::Pid(w) => p.pid == w,
                            WaitFor::Group(g) => p.pgid == g,
                        }
                })
        })?;
        let found = self.changes[at];
        if !keep {
            self.changes.remove(at);
        }
        Some(found)
    }

    /// Removes the zombies nobody will reap (orphans that exited), except `keep` (the process
    /// that is running); returns their pids for the platform to free.
    pub fn take_orphan_zombies(&mut self, keep: i32) -> Vec<i32> {
        let mut gone = Vec::new();
        self.procs.retain(|p| {
            let drop = p.ppid == 0 && p.status.is_some() && p.pid != keep;
            if drop {
                gone.push(p.pid);
            }
            !drop
        });
        gone
    }

    /// Looks for a child of `parent` matching `which` that has exited; with `reap` it is
    /// removed from the table (the platform then frees it).
    pub fn find_exited(&mut self, parent: i32, which: WaitFor, reap: bool) -> Waitable {
        let matches = |p: &Proc| {
            p.ppid == parent
                && match which {
                    WaitFor::Any => true,
                    WaitFor::Pid(pid) => p.pid == pid,
                    WaitFor::Group(g) => p.pgid == g,
                }
        };
        let mut any = false;
        let mut found = None;
        for (i, p) in self.procs.iter().enumerate() {
            if matches(p) {
                any = true;
                if p.status.is_some() {
                    found = Some(i);
                    break;
                }
            }
        }
        match found {
            Some(i) => {
                let (pid, status) = (self.procs[i].pid, self.procs[i].status.unwrap_or(0));
                if reap {
                    self.procs.remove(i);
                }
                Waitable::Exited(pid, status)
            }
            None if any => Waitable::NotYet,
            None => Waitable::NoChild,
        }
    }

    /// The process group of `caller` (for a wait4 pid of 0).
    pub fn pgid_of(&self, pid: i32) -> Option<i32> {
        self.get(pid).map(|p| p.pgid)
    }

    /// getpgid(pid) from `caller` (pid 0: itself). ESRCH for a pid the app does not have.
    pub fn getpgid(&self, caller: i32, pid: i32) -> Result<i32, Errno> {
        let pid = if pid == 0 { caller } else { pid };
        self.get(pid).map(|p| p.pgid).ok_or(ESRCH)
    }

    /// getsid(pid) from `caller` (pid 0: itself). ESRCH for a pid the app does not have.
    pub fn getsid(&self, caller: i32, pid: i32) -> Result<i32, Errno> {
        let pid = if pid == 0 { caller } else { pid };
        self.get(pid).map(|p| p.sid).ok_or(ESRCH)
    }

    /// setsid() by `caller`: a new session and group led by it. EPERM if it already leads a
    /// process group.
    pub fn setsid(&mut self, caller: i32) -> Result<i32, Errno> {
        if self.procs.iter().any(|p| p.pgid == caller) {
            return Err(EPERM);
        }
        let p = self.get_mut(caller).ok_or(ESRCH)?;
        p.sid = caller;
        p.pgid = caller;
        Ok(caller)
    }

    /// setpgid(pid, pgid) by `caller`, with Linux's rules: `pid` 0 is the caller, `pgid` 0 is
    /// `pid`; the target is the caller or a child of it (ESRCH), not a child that has run
    /// execve (EACCES), in the caller's session (EPERM), not a session leader (EPERM); the
    /// group joined is new (pgid == pid) or exists in the same session (EPERM).
    pub fn setpgid(&mut self, caller: i32, pid: i32, pgid: i32) -> Result<(), Errno> {
        if pgid < 0 {
            return Err(EINVAL);
        }
        let pid = if pid == 0 { caller } else { pid };
        let pgid = if pgid == 0 { pid } else { pgid };
        let me = self.get(caller).ok_or(ESRCH)?.clone();
        let t = self.get(pid).filter(|p| p.status.is_none()).ok_or(ESRCH)?.clone();
        if t.pid != caller {
            if t.ppid != caller {
                return Err(ESRCH);
            }
            if t.sid != me.sid {
                return Err(EPERM);
            }
            if t.execed {
                return Err(EACCES);
            }
        }
        if t.sid == t.pid {
            return Err(EPERM);
        }
        if pgid != t.pid && !self.procs.iter().any(|p| p.pgid == pgid && p.sid == me.sid && p.status.is_none()) {
            return Err(EPERM);
        }
        if let Some(p) = self.get_mut(pid) {
            p.pgid = pgid;
        }
        Ok(())
    }

    /// The processes kill(pid, ...) from `caller` reaches, as (pid, signal state): pid > 0
    /// that process (a zombie too: the signal is then lost, as on Linux), 0 the caller's
    /// group, -1 every process but the first and the caller, < -1 the group -pid. ESRCH when
    /// none.
    pub fn kill_targets(&self, caller: i32, pid: i32) -> Result<Vec<(i32, Arc<Signals>)>, Errno> {
        let first = self.procs.first().map_or(0, |p| p.pid);
        let live = |p: &&Proc| p.status.is_none();
        let out: Vec<(i32, Arc<Signals>)> = match pid {
            p if p > 0 => {
                let t = self.get(p).ok_or(ESRCH)?;
                if t.status.is_some() {
                    return Ok(Vec::new());
                }
                alloc::vec![(t.pid, t.signals.clone())]
            }
            0 => {
                let g = self.get(caller).ok_or(ESRCH)?.pgid;
                self.procs.iter().filter(live).filter(|p| p.pgid == g).map(|p| (p.pid, p.signals.clone())).collect()
            }
            -1 => self
                .procs
                .iter()
                .filter(live)
                .filter(|p| p.pid != first && p.pid != caller)
                .map(|p| (p.pid, p.signals.clone()))
                .collect(),
            i32::MIN => return Err(ESRCH),
            g => self.procs.iter().filter(live).filter(|p| p.pgid == -g).map(|p| (p.pid, p.signals.clone())).collect(),
        };
        if out.is_empty() && pid <= 0 {
            return Err(ESRCH);
        }
        Ok(out)
    }

    /// Every live process (a signal from outside the app reaches all of them).
    pub fn all_live(&self) -> Vec<(i32, Arc<Signals>)> {
        self.procs.iter().filter(|p| p.status.is_none()).map(|p| (p.pid, p.signals.clone())).collect()
    }

    /// The pids of the live children of `pid` and of its threads' process (for /proc).
    pub fn children_of(&self, pid: i32) -> Vec<i32> {
        self.procs.iter().filter(|p| p.ppid == pid && p.status.is_none()).map(|p| p.pid).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig() -> Arc<Signals> {
        Arc::new(Signals::new())
    }

    #[test]
    fn a_fork_child_inherits_the_published_name_until_it_publishes_its_own() {
        let mut t = Table::new();
        t.add_first(1, sig());
        t.publish(1, b"sh", b"sh\0-c\0");
        t.fork(1, 2, sig()).unwrap();
        assert_eq!(
            (t.get(2).unwrap().comm.as_slice(), t.get(2).unwrap().cmdline.as_slice()),
            (&b"sh"[..], &b"sh\0-c\0"[..])
        );
        t.publish(2, b"sleep", b"sleep\x005\0");
        assert_eq!(t.get(2).unwrap().comm, b"sleep");
        assert_eq!(t.get(1).unwrap().comm, b"sh");
    }

    #[test]
    fn an_exec_into_a_new_host_process_keeps_the_id_and_takes_its_signals() {
        let mut t = Table::new();
        let shared = sig();
        t.add_first(1, shared.clone());
        // A child that runs on its parent's signal state until it execs.
        t.fork(1, 0x40_0000, shared.clone()).unwrap();
        let own = sig();
        t.mark_exec_with(0x40_0000, own.clone());
        let targets = t.kill_targets(1, 0x40_0000).unwrap();
        assert_eq!(targets.len(), 1);
        assert!(Arc::ptr_eq(&targets[0].1, &own) && !Arc::ptr_eq(&targets[0].1, &shared));
        assert!(t.get(0x40_0000).unwrap().execed);
        assert_eq!(t.parent_of(0x40_0000), 1);
    }

    #[test]
    fn pids_list_live_and_zombies_in_order_until_reaped() {
        let mut t = Table::new();
        t.add_first(1, sig());
        t.fork(1, 3, sig()).unwrap();
        t.fork(1, 2, sig()).unwrap();
        t.exit(3, 0);
        assert_eq!(t.pids(), alloc::vec![1, 2, 3]);
        assert_eq!(t.find_exited(1, WaitFor::Pid(3), true), Waitable::Exited(3, 0));
        assert_eq!(t.pids(), alloc::vec![1, 2]);
    }

    #[test]
    fn a_stop_report_marks_stopped_and_a_continue_clears_it() {
        let mut t = Table::new();
        t.add_first(1, sig());
        t.fork(1, 2, sig()).unwrap();
        t.report_change(2, (19 << 8) | 0x7f);
        assert!(t.get(2).unwrap().stopped);
        t.report_change(2, 0xffff);
        assert!(!t.get(2).unwrap().stopped);
    }
}
