//! The server's config file (`--config FILE`, TOML): the same keys as the long flags
//! (`listen = "0.0.0.0:8080"`, `max_room_size = 8`, `tls_self_signed = true`, …; `_` and `-`
//! alike). A key fills the flag's environment variable when that is unset, so a flag beats
//! the environment, which beats the file, which beats the defaults.

use std::path::Path;

/// The `--config` path in `args` (`--config FILE` or `--config=FILE`), else `TERMMEET_CONFIG`.
pub fn config_path(
    args: &[std::ffi::OsString],
    env: impl Fn(&str) -> Option<String>,
) -> Option<std::path::PathBuf> {
    let mut words = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        if word == "--config" {
            return words.next().map(Into::into);
        }
        if let Some(path) = word.strip_prefix("--config=") {
            return Some(path.into());
        }
    }
    env("TERMMEET_CONFIG").map(Into::into)
}

/// The environment the file at `path` gives, for the flags of `cmd`: (variable, value)
/// pairs, one per key. An unknown key, a key with no variable or a value of the wrong shape
/// is an error that names the file and the key.
pub fn config_env(cmd: &clap::Command, path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("the config file {} is not TOML: {e}", path.display()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let flag = key.replace('_', "-");
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(flag.as_str()) && flag != "config")
            .ok_or_else(|| {
                format!(
                    "{}: unknown key {key:?}; the keys are the long flags of `termmeet-signaling --help`, like listen or max_room_size",
                    path.display()
                )
            })?;
        let variable = arg
            .get_env()
            .map(|v| v.to_string_lossy().into_owned())
            .ok_or_else(|| format!("{}: {key:?} cannot be set from a file", path.display()))?;
        let scalar = |v: &toml::Value| match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(format!(
                "{}: {key:?} must be a string, a number, true or false",
                path.display()
            )),
        };
        let text = match &value {
            toml::Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<Result<Vec<_>, _>>()?
                .join(","),
            other => scalar(other)?,
        };
        out.push((variable, text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> clap::Command {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: crate::ServeArgs,
        }
        <Cli as clap::CommandFactory>::command()
    }

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("termmeet-conf-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn keys_become_the_flags_variables() {
        let path = file(
            "good.toml",
            "listen = \"0.0.0.0:9000\"\nmax_room_size = 8\nrate = 2.5\ntls-self-signed = true\ntls_name = [\"a.example\", \"b.example\"]\n",
        );
        let mut env = config_env(&command(), &path).expect("a good file");
        env.sort();
        assert_eq!(
            env,
            vec![
                ("TERMMEET_LISTEN".into(), "0.0.0.0:9000".into()),
                ("TERMMEET_MAX_ROOM_SIZE".into(), "8".into()),
                ("TERMMEET_RATE".into(), "2.5".into()),
                ("TERMMEET_TLS_NAMES".into(), "a.example,b.example".into()),
                ("TERMMEET_TLS_SELF_SIGNED".into(), "true".into()),
            ]
        );
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn mistakes_name_the_file_and_the_key() {
        let path = file("bad.toml", "lisen = \"x\"\n");
        let e = config_env(&command(), &path).unwrap_err();
        assert!(e.contains("lisen") && e.contains("bad.toml"), "{e}");
        let path2 = file("shape.toml", "listen = { a = 1 }\n");
        let e = config_env(&command(), &path2).unwrap_err();
        assert!(e.contains("listen"), "{e}");
        let path3 = file("nottoml.toml", "listen = \n");
        assert!(config_env(&command(), &path3)
            .unwrap_err()
            .contains("not TOML"));
        let missing = std::env::temp_dir().join("termmeet-no-such-config.toml");
        assert!(config_env(&command(), &missing)
            .unwrap_err()
            .contains("cannot read"));
        for p in [path, path2, path3] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn the_path_comes_from_the_flag_or_the_environment() {
        let args = |v: &[&str]| v.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        let none = |_: &str| None;
        assert_eq!(
            config_path(&args(&["s", "--config", "/etc/t.toml"]), none),
            Some("/etc/t.toml".into())
        );
        assert_eq!(
            config_path(&args(&["s", "serve", "--config=/x.toml"]), none),
            Some("/x.toml".into())
        );
        assert_eq!(config_path(&args(&["s"]), none), None);
        assert_eq!(
            config_path(&args(&["s"]), |_| Some("/e.toml".into())),
            Some("/e.toml".into())
        );
    }
}
