//! The app's argv and environment: the launch config's ARG, ENV, ENV_PASS and ENV_INHERIT
//! records applied to what the host gave the runtime (linux-userland: its own argv and
//! environment; kvm: `litebox.arg=` / `litebox.env=` and the boot module's environment block).
use alloc::vec::Vec;

use litebox_image::LaunchConfig;

/// The value of variable `name` in `env` (`NAME=value` entries), if it is set.
pub fn host_var<'a, S: AsRef<[u8]>>(env: &'a [S], name: &[u8]) -> Option<&'a [u8]> {
    env.iter()
        .map(AsRef::as_ref)
        .find(|e| e.len() > name.len() && e[name.len()] == b'=' && e.starts_with(name))
        .map(|e| &e[name.len() + 1..])
}

/// Sets `kv` (`NAME=value`, or a bare `NAME`) in `env`: any earlier entry for the name goes,
/// the new one comes last.
pub fn set_var(env: &mut Vec<Vec<u8>>, kv: &[u8]) {
    let key_len = kv.iter().position(|&c| c == b'=').unwrap_or(kv.len());
    env.retain(|e| !(e.len() > key_len && e[key_len] == b'=' && e[..key_len] == kv[..key_len]));
    env.push(kv.to_vec());
}

/// The app's argv and environment.
pub struct AppArgs {
    /// The image's ARG records, then the host's arguments.
    pub argv: Vec<Vec<u8>>,
    /// The host's environment when ENV_INHERIT is set, then each ENV record, then each
    /// ENV_PASS name the host sets; a later entry for a name replaces an earlier one.
    pub env: Vec<Vec<u8>>,
}

/// Builds the app's argv and environment from `cfg` and what the host gave: `host_args` (the
/// arguments after the program name), `host_env` (`NAME=value` entries). Variables named in
/// `runtime_vars` are the runtime's own and never inherited (they can still be passed by name).
pub fn app_args<A: AsRef<[u8]>, E: AsRef<[u8]>>(
    cfg: &LaunchConfig<'_>,
    host_args: &[A],
    host_env: &[E],
    runtime_vars: &[&[u8]],
) -> AppArgs {
    let mut argv: Vec<Vec<u8>> = cfg.args.iter().map(|a| a.to_vec()).collect();
    argv.extend(host_args.iter().map(|a| a.as_ref().to_vec()));
    let mut env: Vec<Vec<u8>> = Vec::new();
    if cfg.env_inherit {
        let ours = |e: &[u8]| runtime_vars.iter().any(|n| e.len() > n.len() && e[n.len()] == b'=' && e.starts_with(n));
        env.extend(host_env.iter().map(AsRef::as_ref).filter(|e| !ours(e)).map(<[u8]>::to_vec));
    }
    for e in &cfg.env {
        set_var(&mut env, e);
    }
    for name in &cfg.env_pass {
        if let Some(v) = host_var(host_env, name) {
            let mut kv = name.to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v);
            set_var(&mut env, &kv);
        }
    }
    AppArgs { argv, env }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn cfg<'a>(args: Vec<&'a [u8]>, env: Vec<&'a [u8]>, pass: Vec<&'a [u8]>, inherit: bool) -> LaunchConfig<'a> {
        LaunchConfig { args, env, env_pass: pass, env_inherit: inherit, ..Default::default() }
    }

    #[test]
    fn argv_is_image_args_then_host_args() {
        let c = cfg(vec![b"/bin/app", b"-x"], vec![], vec![], false);
        let a = app_args(&c, &[b"one".as_slice(), b"two"], &[] as &[&[u8]], &[]);
        assert_eq!(a.argv, vec![b"/bin/app".to_vec(), b"-x".to_vec(), b"one".to_vec(), b"two".to_vec()]);
        assert!(a.env.is_empty());
    }

    #[test]
    fn env_records_replace_inherited_and_pass_replaces_records() {
        let host: Vec<Vec<u8>> =
            vec![b"HOME=/h".to_vec(), b"A=host".to_vec(), b"LITEBOX_TRACE=1".to_vec(), b"B=b".to_vec()];
        let c = cfg(vec![], vec![b"A=image", b"C=c"], vec![b"B", b"MISSING"], true);
        let a = app_args(&c, &[] as &[&[u8]], &host, &[b"LITEBOX_TRACE"]);
        assert_eq!(a.env, vec![b"HOME=/h".to_vec(), b"A=image".to_vec(), b"C=c".to_vec(), b"B=b".to_vec()]);
    }

    #[test]
    fn without_inherit_only_records_and_passed_names() {
        let host = [b"SECRET=x".as_slice(), b"LITEBOX_TRACE=1", b"LANG=C"];
        let c = cfg(vec![], vec![b"PATH=/bin"], vec![b"LANG", b"LITEBOX_TRACE"], false);
        let a = app_args(&c, &[] as &[&[u8]], &host, &[b"LITEBOX_TRACE"]);
        assert_eq!(a.env, vec![b"PATH=/bin".to_vec(), b"LANG=C".to_vec(), b"LITEBOX_TRACE=1".to_vec()]);
    }

    #[test]
    fn host_var_needs_the_whole_name() {
        let env = [b"AB=1".as_slice(), b"A=2", b"A"];
        assert_eq!(host_var(&env, b"A"), Some(b"2".as_slice()));
        assert_eq!(host_var(&env, b"AB"), Some(b"1".as_slice()));
        assert_eq!(host_var(&env, b"B"), None);
        let mut v = vec![b"A=1".to_vec(), b"AB=2".to_vec()];
        set_var(&mut v, b"A=3");
        assert_eq!(v, vec![b"AB=2".to_vec(), b"A=3".to_vec()]);
    }
}
