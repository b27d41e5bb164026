//! Which configuration changes a reload cannot apply, and the refusal that names them.
//!
//! A reload is all or nothing: one key that needs a restart refuses the whole file and
//! nothing changes. The wording follows nats-server's `config reload not supported for
//! <key>`.

use crate::config::Config;

/// A change that needs a restart.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("config reload not supported for {key}: old={old}, new={new} (requires a restart)")]
pub struct RestartRequired {
    /// The configuration key, as an operator writes it.
    pub key: &'static str,
    pub old: String,
    pub new: String,
}

/// The first key whose change `old` → `new` needs a restart, if any.
///
/// Listeners are bound once at start; the server's name and seed are part of its identity
/// towards peers and the simulator; logging is set up before the configuration is read
/// again. Everything else is applied by the reload (see docs/configuration.md).
pub fn restart_required(old: &Config, new: &Config) -> Option<RestartRequired> {
    fn show<T: std::fmt::Debug>(v: &T) -> String {
        format!("{v:?}")
    }
    macro_rules! same {
        ($key:literal, $old:expr, $new:expr) => {
            if $old != $new {
                return Some(RestartRequired {
                    key: $key,
                    old: show(&$old),
                    new: show(&$new),
                });
            }
        };
    }
    same!("listen", old.client_addr(), new.client_addr());
    same!("http", old.monitoring_addr(), new.monitoring_addr());
    same!(
        "leafnodes listen",
        old.leafnodes.listen_addr(),
        new.leafnodes.listen_addr()
    );
    same!("server_name", old.server_name, new.server_name);
    same!("seed", old.seed, new.seed);
    same!("debug", old.debug, new.debug);
    same!("trace", old.trace, new.trace);
    same!("logtime", old.logtime, new.logtime);
    same!("log_file", old.log_file, new.log_file);
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::MemSource;

    fn cfg(text: &str) -> Config {
        Config::parse(text, "t.conf", &MemSource::new()).expect("valid config")
    }

    #[test]
    fn reloadable_changes_pass() {
        let old = cfg("port: 4222\nmax_payload: 1000\n");
        let new = cfg("port: 4222\nmax_payload: 2000\npid_file: /tmp/x.pid\n");
        assert_eq!(restart_required(&old, &new), None);
    }

    #[test]
    fn each_restart_only_key_is_named() {
        let base = "port: 4222\nserver_name: a\n";
        for (text, key) in [
            ("port: 4223\nserver_name: a\n", "listen"),
            ("port: 4222\nserver_name: a\nhttp: 8222\n", "http"),
            ("port: 4222\nserver_name: b\n", "server_name"),
            ("port: 4222\nserver_name: a\ndebug: true\n", "debug"),
            ("port: 4222\nserver_name: a\nlog_file: /tmp/l\n", "log_file"),
            (
                "port: 4222\nserver_name: a\nleafnodes { port: 7422 }\n",
                "leafnodes listen",
            ),
        ] {
            let e = restart_required(&cfg(base), &cfg(text)).expect(key);
            assert_eq!(e.key, key);
            assert!(e
                .to_string()
                .starts_with(&format!("config reload not supported for {key}:")));
        }
    }
}
