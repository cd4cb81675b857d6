//! The server's version, read from the `userAgent` of its `initialize` answer.
//!
//! codex builds that string as `{originator}/{version} ({os} {os version}; {arch}) {terminal}`
//! followed by ` ({client name}; {client version})`, where the originator is the `clientInfo.name`
//! we sent. Seen with 0.169.0:
//! `codex-native/0.169.0 (Debian 12.0.0; x86_64) xterm (codex-native; 0.1.0)`. The name is
//! the client's own and may hold `/`, spaces or `(`, so it is stripped as a known prefix first;
//! only when the server used another originator is the version taken from the last `/` before
//! the first ` (`.

/// The version in the `userAgent` of an `initialize` answer; None when it has none (or the
/// answer is not the object it should be).
pub(crate) fn from_initialize(
    info: &serde_json::value::RawValue,
    client_name: &str,
) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(rename = "userAgent")]
        user_agent: Option<String>,
    }
    let info: Info = serde_json::from_str(info.get()).ok()?;
    server_version(&info.user_agent?, client_name)
}

/// The version in `user_agent`, or None when there is none that looks like a version.
pub fn server_version(user_agent: &str, client_name: &str) -> Option<String> {
    let after_name = user_agent
        .strip_prefix(client_name)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split(char::is_whitespace).next());
    let fallback = || {
        let product = user_agent.split(" (").next()?;
        Some(product.rsplit_once('/')?.1.trim())
    };
    let version = after_name
        .filter(|v| looks_like_version(v))
        .or_else(fallback)?;
    looks_like_version(version).then(|| version.to_owned())
}

/// A semver-ish token: starts with a digit; digits, letters and `.`, `-`, `+` only.
fn looks_like_version(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'))
}

#[cfg(test)]
mod tests {
    use super::server_version;

    fn v(user_agent: &str, name: &str) -> Option<String> {
        server_version(user_agent, name)
    }

    #[test]
    fn the_real_formats() {
        // What codex 0.169.0 answered for three client names.
        let real = "codex-native/0.169.0 (Debian 12.0.0; x86_64) xterm (codex-native; 0.1.0)";
        assert_eq!(v(real, "codex-native").as_deref(), Some("0.169.0"));
        let spaced = "my app/0.169.0 (Debian 12.0.0; x86_64) xterm (my app; 1.2.3-beta+x)";
        assert_eq!(v(spaced, "my app").as_deref(), Some("0.169.0"));
        let slashed = "a/b/0.169.0 (Debian 12.0.0; x86_64) xterm (a/b;)";
        assert_eq!(v(slashed, "a/b").as_deref(), Some("0.169.0"));
        let windows = "codex-native/0.171.0 (Windows 10.0.26100; x86_64) WindowsTerminal";
        assert_eq!(v(windows, "codex-native").as_deref(), Some("0.171.0"));
    }

    #[test]
    fn prerelease_and_build_suffixes_are_kept() {
        let ua = "codex-native/0.172.0-alpha.3+abc (Mac OS 15.1.0; arm64) iTerm.app/3.5";
        assert_eq!(
            v(ua, "codex-native").as_deref(),
            Some("0.172.0-alpha.3+abc")
        );
    }

    #[test]
    fn another_originator_falls_back_to_the_last_slash_before_the_os() {
        let ua = "codex_cli_rs/0.169.0 (Ubuntu 24.4.0; aarch64) tmux/3.4 (codex-native; 0.1.0)";
        assert_eq!(v(ua, "codex-native").as_deref(), Some("0.169.0"));
        // A name with ` (` in it is only found through the known prefix.
        let ua = "x (y)/0.169.0 (Debian 12.0.0; x86_64) xterm";
        assert_eq!(v(ua, "x (y)").as_deref(), Some("0.169.0"));
        // The name sent is a prefix of the originator used.
        let ua = "a/b/0.169.0 (Debian 12.0.0; x86_64) xterm";
        assert_eq!(v(ua, "a").as_deref(), Some("0.169.0"));
        // Nothing after the product: the whole string is the product.
        assert_eq!(
            v("other/0.170.1", "codex-native").as_deref(),
            Some("0.170.1")
        );
    }

    #[test]
    fn from_an_initialize_answer() {
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.to_owned()).expect("json");
        let answer =
            raw(r#"{"userAgent":"n/0.169.0 (Debian 12.0.0; x86_64) xterm","codexHome":"/h"}"#);
        assert_eq!(
            super::from_initialize(&answer, "n").as_deref(),
            Some("0.169.0")
        );
        for odd in [
            "null",
            "[]",
            "{}",
            r#"{"userAgent":5}"#,
            r#"{"userAgent":null}"#,
        ] {
            assert_eq!(super::from_initialize(&raw(odd), "n"), None, "{odd}");
        }
    }

    #[test]
    fn odd_inputs_give_none() {
        assert_eq!(v("", "codex-native"), None);
        assert_eq!(v("", ""), None);
        assert_eq!(v("codex-native", "codex-native"), None); // no slash
        assert_eq!(v("codex-native/", "codex-native"), None); // nothing after it
        assert_eq!(v("codex-native/ (Debian 12; x86_64)", "codex-native"), None);
        assert_eq!(v("no slash here (Debian 12; x86_64)", "codex-native"), None);
        assert_eq!(
            v("codex-native/dev (Debian 12; x86_64)", "codex-native"),
            None
        );
        assert_eq!(v("codex-native/0.169.0;rm (x)", "codex-native"), None);
        assert_eq!(v("/0.169.0", ""), Some("0.169.0".into()));
        assert_eq!(v("codex-native/0.1\u{e9}", "codex-native"), None);
    }
}
