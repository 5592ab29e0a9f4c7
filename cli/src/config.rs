//! Where the API is and the key to it: flags, then the environment, then a profile of the
//! profile file. clap already puts a flag before its environment variable; a profile fills
//! in only what neither gave.
//!
//! The profile file (`~/.config/smsctl/config.toml`, or `--config`/`SMSCTL_CONFIG`):
//!
//! ```toml
//! default_profile = "local"      # optional; otherwise the profile named `default`
//!
//! [profiles.local]
//! api_url = "http://127.0.0.1:3000"
//! api_key = "local-dev-key-not-secret-0123456789"
//! ```

use std::{collections::BTreeMap, fmt, path::PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use crate::failure::Failure;

/// Where to send requests and with which key. The key never reaches a line of output:
/// `SecretString` shows `[REDACTED]` in Debug, and nothing displays it.
pub struct Settings {
    pub api_url: String,
    pub api_key: SecretString,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_url", &self.api_url)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

/// What the command line and the environment said (clap read both).
pub struct Given {
    pub api_url: Option<String>,
    pub api_key: Option<SecretString>,
    pub profile: Option<String>,
    pub config: Option<PathBuf>,
}

/// The profile file. Unknown keys are refused, so a misspelt `api_key` is not silently
/// ignored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    default_profile: Option<String>,
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Profile {
    api_url: Option<String>,
    api_key: Option<String>,
}

const DEFAULT_PROFILE: &str = "default";

/// `~/.config/smsctl/config.toml` ($XDG_CONFIG_HOME on Linux, the platform's place elsewhere).
fn default_path() -> Option<PathBuf> {
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().ok()?;
    Some(base.config_dir().join("smsctl").join("config.toml"))
}

pub fn resolve(given: Given) -> Result<Settings, Failure> {
    let named_file = given.config.is_some();
    let path = given.config.or_else(default_path);
    let file = match &path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<ProfileFile>(&text).map_err(|e| {
                Failure::Usage(format!(
                    "the profile file {} is not valid: {e}",
                    path.display()
                ))
            })?,
            // No file is no profile, unless the file was asked for by name.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !named_file => {
                ProfileFile::default()
            }
            Err(e) => {
                return Err(Failure::Usage(format!(
                    "cannot read the profile file {}: {e}",
                    path.display()
                )));
            }
        },
        None => ProfileFile::default(),
    };
    let named_profile = given.profile.is_some();
    let name = given
        .profile
        .or(file.default_profile.clone())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_owned());
    let mut profiles = file.profiles;
    let profile = profiles.remove(&name);
    if profile.is_none() && named_profile {
        let place = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the profile file".to_owned());
        return Err(Failure::Usage(format!("no profile {name:?} in {place}")));
    }
    let (profile_url, profile_key) = profile
        .map(|p| (p.api_url, p.api_key.map(SecretString::from)))
        .unwrap_or_default();

    let api_url = given.api_url.or(profile_url).ok_or_else(|| {
        Failure::Usage(
            "no API URL: give --api-url, set SMS_API_URL, or put api_url in a profile".to_owned(),
        )
    })?;
    let api_key = given.api_key.or(profile_key).ok_or_else(|| {
        Failure::Usage(
            "no API key: give --api-key, set SMS_API_KEY, or put api_key in a profile".to_owned(),
        )
    })?;
    Ok(Settings {
        api_url: api_url.trim_end_matches('/').to_owned(),
        api_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// Only the profile file given: no flag, no environment variable, no profile named.
    fn given(path: PathBuf) -> Given {
        Given {
            api_url: None,
            api_key: None,
            profile: None,
            config: Some(path),
        }
    }

    /// Why resolving fails with only a profile file of `text` given.
    fn refusal_of(text: &str) -> Failure {
        let (_dir, path) = file(text);
        resolve(given(path)).unwrap_err()
    }

    fn file(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    /// A directory of its own for each test, removed afterwards.
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p =
                    std::env::temp_dir().join(format!("smsctl-config-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&p).unwrap();
                Self(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    const TWO_PROFILES: &str = r#"
default_profile = "local"
[profiles.local]
api_url = "http://local/"
api_key = "local-key"
[profiles.prod]
api_url = "https://prod"
api_key = "prod-key"
"#;

    #[test]
    fn flags_and_environment_come_before_the_profile_field_by_field() {
        let (_dir, path) = file(TWO_PROFILES);
        let s = resolve(Given {
            api_url: Some("http://given".into()),
            profile: Some("prod".into()),
            ..given(path)
        })
        .unwrap();
        assert_eq!(s.api_url, "http://given");
        assert_eq!(s.api_key.expose_secret(), "prod-key");
    }

    #[test]
    fn the_files_default_profile_is_used_when_none_is_named() {
        let (_dir, path) = file(TWO_PROFILES);
        let s = resolve(given(path)).unwrap();
        assert_eq!(
            (s.api_url.as_str(), s.api_key.expose_secret()),
            ("http://local", "local-key")
        );
    }

    #[test]
    fn a_named_profile_that_is_missing_is_a_usage_error() {
        let (_dir, path) = file(TWO_PROFILES);
        let e = resolve(Given {
            profile: Some("staging".into()),
            ..given(path)
        })
        .unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        assert!(e.to_string().contains("no profile \"staging\""), "{e}");
    }

    #[test]
    fn no_key_anywhere_is_a_usage_error_that_says_where_to_put_one() {
        let e = refusal_of("[profiles.default]\napi_url = \"http://x\"\n");
        assert_eq!(e.exit_code(), crate::exit::USAGE);
        assert!(e.to_string().contains("SMS_API_KEY"), "{e}");
    }

    #[test]
    fn a_misspelt_key_in_the_profile_file_is_refused() {
        let e = refusal_of("[profiles.default]\napi_kye = \"k\"\n");
        assert!(e.to_string().contains("api_kye"), "{e}");
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let s = Settings {
            api_url: "http://x".into(),
            api_key: SecretString::from("very-secret-key"),
        };
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
