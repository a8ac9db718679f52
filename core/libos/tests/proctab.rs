//! The core's process table (`proctab.rs`): parents, groups and sessions, zombies, kill and
//! wait target selection, the process limit. Each test has its own table.
use std::sync::Arc;

use litebox_libos::errno::*;
use litebox_libos::proctab::{Table, WaitFor, Waitable};
use litebox_libos::signal::{SigAction, Signals, SIGCHLD};

fn sigs() -> Arc<Signals> {
    Arc::new(Signals::new())
}

/// pid 1 (the app), its children 2 and 3, and 4, a child of 2.
fn family() -> Table {
    let mut t = Table::new();
    t.add_first(1, sigs());
    t.fork(1, 2, sigs()).unwrap();
    t.fork(1, 3, sigs()).unwrap();
    t.fork(2, 4, sigs()).unwrap();
    t
}

fn pids(v: Vec<(i32, Arc<Signals>)>) -> Vec<i32> {
    let mut p: Vec<i32> = v.into_iter().map(|(p, _)| p).collect();
    p.sort();
    p
}

#[test]
fn the_first_process_leads_its_group_and_session_and_children_inherit_them() {
    let t = family();
    assert_eq!(t.getpgid(1, 0), Ok(1));
    assert_eq!(t.getsid(1, 0), Ok(1));
    assert_eq!(t.getpgid(4, 0), Ok(1));
    assert_eq!(t.getsid(1, 4), Ok(1));
    assert_eq!(t.parent_of(4), 2);
    assert_eq!(t.parent_of(1), 0);
    assert_eq!(t.getpgid(1, 99), Err(ESRCH));
}

#[test]
fn setpgid_follows_linux_rules() {
    let mut t = family();
    // A child makes its own group (the test harness pattern: setpgid(0, 0)).
    assert_eq!(t.setpgid(2, 0, 0), Ok(()));
    assert_eq!(t.getpgid(2, 0), Ok(2));
    // Its child joins it from the parent's side.
    assert_eq!(t.setpgid(2, 4, 2), Ok(()));
    assert_eq!(t.getpgid(1, 4), Ok(2));
    // Not a child of the caller: ESRCH; a group that does not exist: EPERM.
    assert_eq!(t.setpgid(2, 3, 2), Err(ESRCH));
    assert_eq!(t.setpgid(3, 0, 77), Err(EPERM));
    // A session leader cannot move.
    assert_eq!(t.setpgid(1, 0, 2), Err(EPERM));
    assert_eq!(t.setpgid(1, 1, 0), Err(EPERM));
    // A child that ran execve: EACCES.
    t.mark_exec(3);
    assert_eq!(t.setpgid(1, 3, 0), Err(EACCES));
    assert_eq!(t.setpgid(1, 0, -1), Err(EINVAL));
}

#[test]
fn setsid_makes_a_new_session_unless_the_caller_leads_a_group() {
    let mut t = family();
    assert_eq!(t.setsid(1), Err(EPERM));
    assert_eq!(t.setsid(3), Ok(3));
    assert_eq!((t.getsid(3, 0), t.getpgid(3, 0)), (Ok(3), Ok(3)));
    // In another session now: the parent cannot move it.
    assert_eq!(t.setpgid(1, 3, 1), Err(EPERM));
    // A group leader cannot start a session.
    assert_eq!(t.setpgid(2, 0, 0), Ok(()));
    assert_eq!(t.setsid(2), Err(EPERM));
}

#[test]
fn kill_reaches_a_pid_a_group_or_everyone_but_the_first_and_the_caller() {
    let mut t = family();
    t.setpgid(2, 0, 0).unwrap();
    t.setpgid(2, 4, 2).unwrap();
    assert_eq!(pids(t.kill_targets(1, 3).unwrap()), vec![3]);
    assert_eq!(pids(t.kill_targets(2, 0).unwrap()), vec![2, 4]);
    assert_eq!(pids(t.kill_targets(1, 0).unwrap()), vec![1, 3]);
    assert_eq!(pids(t.kill_targets(1, -2).unwrap()), vec![2, 4]);
    assert_eq!(pids(t.kill_targets(3, -1).unwrap()), vec![2, 4]);
    assert_eq!(t.kill_targets(1, 50).err(), Some(ESRCH));
    assert_eq!(t.kill_targets(1, -50).err(), Some(ESRCH));
    // A zombie can be signalled (the signal is lost), not an unknown pid.
    t.exit(3, 0);
    assert_eq!(pids(t.kill_targets(1, 3).unwrap()), Vec::<i32>::new());
}

#[test]
fn exit_leaves_a_zombie_for_the_parent_and_orphans_the_children() {
    let mut t = family();
    let n = t.exit(2, 3 << 8);
    assert_eq!(n.notify.map(|(p, _)| p), Some(1));
    assert_eq!(t.parent_of(4), 0);
    assert_eq!(t.find_exited(1, WaitFor::Pid(3), false), Waitable::NotYet);
    assert_eq!(t.find_exited(1, WaitFor::Any, false), Waitable::Exited(2, 3 << 8));
    assert_eq!(t.find_exited(1, WaitFor::Any, true), Waitable::Exited(2, 3 << 8));
    assert_eq!(t.find_exited(1, WaitFor::Pid(2), true), Waitable::NoChild);
    // The orphan 4 exits: nobody waits for it, the kernel frees it.
    t.exit(4, 9);
    assert_eq!(t.take_orphan_zombies(1), vec![4]);
    assert!(t.get(4).is_none());
}

#[test]
fn orphans_go_to_the_nearest_live_subreaper_above_and_it_can_reap_them() {
    // 1 is a subreaper; 2 (its child) forks 4 and 5; 4 exits first, then 2.
    let mut t = family();
    t.fork(2, 5, sigs()).unwrap();
    t.set_subreaper(1, true);
    t.exit(4, 9);
    let n = t.exit(2, 0);
    assert_eq!(t.parent_of(5), 1);
    assert_eq!(t.parent_of(4), 1);
    // The adopted zombie 4 is announced to the subreaper.
    assert_eq!(n.adopter.map(|(p, _)| p), Some(1));
    assert_eq!(t.take_orphan_zombies(1), Vec::<i32>::new());
    assert_eq!(t.find_exited(1, WaitFor::Pid(4), true), Waitable::Exited(4, 9));
    assert_eq!(t.find_exited(1, WaitFor::Pid(5), false), Waitable::NotYet);
    // A fork child does not inherit the attribute: without a subreaper, orphans have no parent.
    t.fork(5, 6, sigs()).unwrap();
    t.set_subreaper(1, false);
    assert!(t.exit(5, 0).adopter.is_none());
    assert_eq!(t.parent_of(6), 0);
}

#[test]
fn wait_by_group_picks_only_children_in_that_group() {
    let mut t = family();
    t.setpgid(1, 3, 0).unwrap();
    t.exit(2, 0);
    assert_eq!(t.find_exited(1, WaitFor::Group(3), false), Waitable::NotYet);
    assert_eq!(t.find_exited(1, WaitFor::Group(1), true), Waitable::Exited(2, 0));
    assert_eq!(t.find_exited(1, WaitFor::Group(77), false), Waitable::NoChild);
}

#[test]
fn a_parent_that_ignores_sigchld_leaves_no_zombie() {
    let mut t = Table::new();
    let parent = sigs();
    parent.actions.lock().set(SIGCHLD, SigAction { handler: 1, ..SigAction::default() });
    t.add_first(1, parent);
    t.fork(1, 2, sigs()).unwrap();
    assert!(t.exit(2, 0).notify.is_none());
    assert_eq!(t.find_exited(1, WaitFor::Any, false), Waitable::NoChild);
    assert_eq!(t.take_orphan_zombies(1), vec![2]);
}

#[test]
fn fork_stops_at_the_process_limit_and_zombies_do_not_count() {
    let mut t = Table::new();
    t.set_limit(2);
    t.add_first(1, sigs());
    t.fork(1, 2, sigs()).unwrap();
    assert_eq!(t.fork(1, 3, sigs()), Err(EAGAIN));
    t.exit(2, 0);
    assert_eq!(t.fork(1, 3, sigs()), Ok(()));
    assert_eq!(t.live(), 2);
}

#[test]
fn stops_and_continues_are_reported_once_to_the_parent() {
    let mut t = family();
    let (ppid, _) = t.report_change(2, (19 << 8) | 0x7f).expect("a live parent");
    assert_eq!(ppid, 1);
    assert_eq!(t.find_changed(1, WaitFor::Any, false, true, false), None, "not asked for stops");
    assert_eq!(t.find_changed(3, WaitFor::Any, true, true, false), None, "not 3's child");
    assert_eq!(t.find_changed(1, WaitFor::Pid(2), true, false, true), Some((2, (19 << 8) | 0x7f)), "WNOWAIT keeps it");
    assert_eq!(t.find_changed(1, WaitFor::Any, true, false, false), Some((2, (19 << 8) | 0x7f)));
    assert_eq!(t.find_changed(1, WaitFor::Any, true, false, false), None, "reported once");
    t.report_change(2, 0xffff);
    assert_eq!(t.find_changed(1, WaitFor::Group(1), false, true, false), Some((2, 0xffff)));
    t.report_change(3, (20 << 8) | 0x7f);
    t.exit(3, 9);
    assert_eq!(t.find_changed(1, WaitFor::Any, true, true, false), None, "an exit replaces the stop");
    assert_eq!(t.find_exited(1, WaitFor::Pid(3), true), Waitable::Exited(3, 9));
}
