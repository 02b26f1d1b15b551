//! What a valid Tusk path is.
//!
//! A path is absolute, `/`-separated, with no empty, `.` or `..` components,
//! no NUL, and no component longer than [`MAX_COMPONENT_LEN`] bytes. The client
//! normalizes what users type (`a//b/`, `./x`, `../y` against the working
//! directory) with [`normalize`]; the namenode accepts only paths for which
//! [`validate`] succeeds.

/// HDFS's default `dfs.namenode.fs-limits.max-component-length`.
pub const MAX_COMPONENT_LEN: usize = 255;
/// Most components a path may have: HDFS's `MAX_PATH_DEPTH` (1000), a
/// constant there too (`dfs.namenode.fs-limits.*` configures only the
/// component length and directory items), so a client cannot make the
/// namenode recurse or allocate without bound on one path.
pub const MAX_DEPTH: usize = 1000;
/// HDFS's `MAX_PATH_LENGTH` (bytes of the whole path), checked with the depth.
pub const MAX_PATH_LEN: usize = 8000;

/// Why a path is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("{0}: path is not absolute")]
    NotAbsolute(String),
    #[error("{0}: empty path")]
    Empty(String),
    #[error("{path}: invalid path component {component:?}")]
    BadComponent { path: String, component: String },
    #[error("{0}: path contains a NUL character")]
    Nul(String),
    #[error("{path}: component of {len} bytes exceeds the limit of {MAX_COMPONENT_LEN}")]
    TooLong { path: String, len: usize },
    /// `0` is the path, cut like `PathTooLong`'s.
    #[error("{0}: path is too deep (more than {MAX_DEPTH} components)")]
    TooDeep(String),
    /// `path` is the first 64 bytes of the path, then `…`.
    #[error("{path}: path of {len} bytes exceeds the limit of {MAX_PATH_LEN}")]
    PathTooLong { path: String, len: usize },
}

/// Checks that `path` is already a valid, normalized absolute path.
pub fn validate(path: &str) -> Result<(), PathError> {
    if path.is_empty() {
        return Err(PathError::Empty(path.into()));
    }
    if path.contains('\0') {
        return Err(PathError::Nul(path.replace('\0', "\\0")));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute(path.into()));
    }
    if path == "/" {
        return Ok(());
    }
    if path.len() > MAX_PATH_LEN {
        return Err(PathError::PathTooLong {
            path: shortened(path),
            len: path.len(),
        });
    }
    let mut depth = 0;
    for c in path[1..].split('/') {
        check_component(path, c)?;
        depth += 1;
    }
    if depth > MAX_DEPTH {
        return Err(PathError::TooDeep(shortened(path)));
    }
    Ok(())
}

/// The first 64 bytes of a long path and `…`, for one-line errors.
fn shortened(path: &str) -> String {
    if path.len() <= 64 {
        return path.to_string();
    }
    let mut cut = 64;
    while !path.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &path[..cut])
}

fn check_component(path: &str, c: &str) -> Result<(), PathError> {
    if c.is_empty() || c == "." || c == ".." {
        return Err(PathError::BadComponent {
            path: path.into(),
            component: c.into(),
        });
    }
    if c.len() > MAX_COMPONENT_LEN {
        return Err(PathError::TooLong {
            path: path.into(),
            len: c.len(),
        });
    }
    Ok(())
}

/// The components of a valid path (`/` has none).
pub fn components(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Normalizes what a user typed against a working directory: resolves relative
/// paths, `.` and `..` (never above `/`), repeated and trailing slashes.
pub fn normalize(cwd: &str, input: &str) -> Result<String, PathError> {
    if input.is_empty() {
        return Err(PathError::Empty(input.into()));
    }
    if input.contains('\0') {
        return Err(PathError::Nul(input.replace('\0', "\\0")));
    }
    let joined = if input.starts_with('/') {
        input.to_string()
    } else {
        format!("{}/{}", cwd.trim_end_matches('/'), input)
    };
    let mut out: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let p = format!("/{}", out.join("/"));
    validate(&p)?;
    Ok(p)
}

/// The parent of a valid path (`None` for `/`).
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last component of a valid path (`""` for `/`).
pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

/// Joins a directory path and a child name.
pub fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// True when `path` equals `ancestor` or lies below it.
pub fn is_under(path: &str, ancestor: &str) -> bool {
    ancestor == "/"
        || path == ancestor
        || (path.starts_with(ancestor) && path.as_bytes().get(ancestor.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() {
        assert!(validate("/").is_ok());
        assert!(validate("/a/b").is_ok());
        assert!(matches!(validate("a/b"), Err(PathError::NotAbsolute(_))));
        assert!(validate("/a//b").is_err());
        assert!(validate("/a/").is_err());
        assert!(validate("/a/./b").is_err());
        assert!(validate("/a/../b").is_err());
        assert!(matches!(validate("/a\0b"), Err(PathError::Nul(_))));
        let long = format!("/{}", "x".repeat(256));
        assert!(matches!(validate(&long), Err(PathError::TooLong { .. })));
        assert!(validate(&format!("/{}", "x".repeat(255))).is_ok());
        let deep = "/d".repeat(MAX_DEPTH);
        assert!(validate(&deep).is_ok());
        let e = validate(&format!("{deep}/d")).unwrap_err();
        assert!(matches!(e, PathError::TooDeep(_)));
        assert_eq!(
            e.to_string(),
            format!(
                "{}…: path is too deep (more than 1000 components)",
                &deep[..64]
            )
        );
        let component = format!("/{}", "x".repeat(199));
        assert!(validate(&component.repeat(MAX_PATH_LEN / 200)).is_ok());
        assert!(matches!(
            validate(&component.repeat(MAX_PATH_LEN / 200 + 1)),
            Err(PathError::PathTooLong { .. })
        ));
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize("/user/a", "x").unwrap(), "/user/a/x");
        assert_eq!(normalize("/user/a", "./x/../y//").unwrap(), "/user/a/y");
        assert_eq!(normalize("/", "../../z").unwrap(), "/z");
        assert_eq!(normalize("/u", "/abs").unwrap(), "/abs");
        assert_eq!(normalize("/u", "/").unwrap(), "/");
    }

    #[test]
    fn relations() {
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(file_name("/a/b"), "b");
        assert_eq!(join("/", "a"), "/a");
        assert!(is_under("/a/b", "/a"));
        assert!(!is_under("/ab", "/a"));
        assert!(is_under("/a", "/"));
    }
}
