//! Hadoop-style globs: `*`, `?`, `[abc]`, `[a-z]`, `[^a]`/`[!a]`, `{a,b}`
//! (which may span `/`), `\` escapes. Braces are expanded first; the rest is
//! matched one path component at a time, so `*` never crosses a `/`.

use crate::client::DfsClient;
use crate::error::{DfsError, Result};
use crate::types::FileStatus;
use tusk_common::path as tpath;

/// True when `s` contains an unescaped glob character.
pub fn has_glob(s: &str) -> bool {
    let mut esc = false;
    for c in s.chars() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '*' | '?' | '[' | '{' => return true,
            _ => {}
        }
    }
    false
}

/// Expands `{a,b}` alternatives (nested allowed); unbalanced braces are
/// kept literally.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut esc = false;
    let mut open = None;
    let mut depth = 0;
    for (i, &c) in chars.iter().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '{' => {
                if depth == 0 {
                    open = Some(i);
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let Some(start) = open else { break };
                    let prefix: String = chars[..start].iter().collect();
                    let suffix: String = chars[i + 1..].iter().collect();
                    let body = &chars[start + 1..i];
                    let mut out = Vec::new();
                    for alt in split_top_commas(body) {
                        for rest in expand_braces(&format!("{prefix}{alt}{suffix}")) {
                            out.push(rest);
                        }
                    }
                    return out;
                }
            }
            _ => {}
        }
    }
    vec![pattern.to_string()]
}

fn split_top_commas(body: &[char]) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0;
    let mut esc = false;
    for &c in body {
        if esc {
            esc = false;
            if let Some(p) = parts.last_mut() {
                p.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                esc = true;
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
            '{' => {
                depth += 1;
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
            '}' => {
                depth -= 1;
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
            ',' if depth == 0 => parts.push(String::new()),
            _ => {
                if let Some(p) = parts.last_mut() {
                    p.push(c);
                }
            }
        }
    }
    parts
}

/// Matches one path component against a brace-free pattern.
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n, false)
}

/// Case-insensitive [`matches`] (for `find -iname`).
pub fn matches_ignore_case(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n, true)
}

fn eq(a: char, b: char, icase: bool) -> bool {
    if icase {
        a.to_lowercase().eq(b.to_lowercase())
    } else {
        a == b
    }
}

fn match_from(p: &[char], n: &[char], icase: bool) -> bool {
    // Iterative matcher with backtracking to the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => Some(pi + 1),
                '[' => match class_match(p, pi, n[ni], icase) {
                    Some((true, next)) => Some(next),
                    Some((false, _)) => None,
                    None => eq('[', n[ni], icase).then_some(pi + 1),
                },
                '\\' if pi + 1 < p.len() => eq(p[pi + 1], n[ni], icase).then_some(pi + 2),
                c => eq(c, n[ni], icase).then_some(pi + 1),
            }
        } else {
            None
        };
        match step {
            Some(next) => {
                pi = next;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Matches `c` against the class starting at `p[start] == '['`. Returns
/// (matched, index after `]`), or `None` when the class is unterminated.
fn class_match(p: &[char], start: usize, c: char, icase: bool) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        let mut lo = p[i];
        if lo == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if lo == '\\' && i + 1 < p.len() {
            i += 1;
            lo = p[i];
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let hi = p[i + 2];
            let (cl, lol, hil) = if icase {
                (
                    c.to_ascii_lowercase(),
                    lo.to_ascii_lowercase(),
                    hi.to_ascii_lowercase(),
                )
            } else {
                (c, lo, hi)
            };
            if lol <= cl && cl <= hil {
                matched = true;
            }
            i += 3;
        } else {
            if eq(lo, c, icase) {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// Removes `\` escapes from a literal component.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut esc = false;
    for c in s.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

impl DfsClient {
    /// Expands a glob (relative patterns resolve against the home
    /// directory). Returns the matching paths' statuses sorted by path; an
    /// empty vector when nothing matches. A pattern without glob characters
    /// returns its path's status if it exists.
    pub async fn glob(&self, pattern: &str) -> Result<Vec<FileStatus>> {
        let mut out: Vec<FileStatus> = Vec::new();
        for alt in expand_braces(pattern) {
            let abs = if alt.starts_with('/') {
                alt.clone()
            } else {
                format!("{}/{}", self.home_dir(), alt)
            };
            // Normalize `.`/`..`/slashes without touching glob characters.
            let norm = tpath::normalize("/", &abs)?;
            let comps: Vec<&str> = tpath::components(&norm).collect();
            if !comps.iter().any(|c| has_glob(c)) {
                let lit = unescape(&norm);
                if let Some(st) = self.get_file_info(&lit).await? {
                    out.push(st);
                }
                continue;
            }
            let mut candidates: Vec<Option<FileStatus>> = vec![None];
            let mut dirs = vec!["/".to_string()];
            for (i, comp) in comps.iter().enumerate() {
                let last = i + 1 == comps.len();
                let mut next_dirs = Vec::new();
                let mut next_st = Vec::new();
                if has_glob(comp) {
                    for d in &dirs {
                        let entries = match self.list(d).await {
                            Ok(e) => e,
                            Err(DfsError::FileNotFound { .. })
                            | Err(DfsError::NotDirectory { .. })
                            | Err(DfsError::PermissionDenied { .. }) => continue,
                            Err(e) => return Err(e),
                        };
                        // A file lists as itself: it has no children.
                        if entries.len() == 1 && entries[0].path == *d {
                            continue;
                        }
                        for e in entries {
                            if matches(comp, &e.name) && (last || e.is_dir()) {
                                next_dirs.push(e.path.clone());
                                next_st.push(Some(e));
                            }
                        }
                    }
                } else {
                    let lit = unescape(comp);
                    for d in &dirs {
                        next_dirs.push(tpath::join(d, &lit));
                        next_st.push(None);
                    }
                }
                dirs = next_dirs;
                candidates = next_st;
            }
            for (p, st) in dirs.into_iter().zip(candidates) {
                match st {
                    Some(st) => out.push(st),
                    None => {
                        if let Some(st) = self.get_file_info(&p).await? {
                            out.push(st);
                        }
                    }
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out.dedup_by(|a, b| a.path == b.path);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "anything"));
        assert!(matches("*", ""));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbbd"));
        assert!(matches("part-*", "part-r-00000"));
        assert!(matches("?.txt", "a.txt"));
        assert!(!matches("?.txt", "ab.txt"));
        assert!(matches("*.log*", "x.log.1"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(matches("*.txt", ".hidden.txt"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(matches("[abc]x", "bx"));
        assert!(!matches("[abc]x", "dx"));
        assert!(matches("file[0-9]", "file7"));
        assert!(!matches("file[0-9]", "filex"));
        assert!(matches("[^a]", "b"));
        assert!(!matches("[!a]", "a"));
        assert!(matches("[]]", "]"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
        assert!(matches("[a", "[a"), "unterminated class is literal");
        assert!(matches_ignore_case("*.TXT", "a.txt"));
        assert!(matches_ignore_case("[A-C]", "b"));
    }

    #[test]
    fn braces() {
        assert_eq!(expand_braces("/a/{b,c}/d"), vec!["/a/b/d", "/a/c/d"]);
        assert_eq!(expand_braces("{x,y{1,2}}z"), vec!["xz", "y1z", "y2z"]);
        assert_eq!(expand_braces("/a/{b/c,d}"), vec!["/a/b/c", "/a/d"]);
        assert_eq!(expand_braces("no{brace"), vec!["no{brace"]);
        assert_eq!(expand_braces("{a,b}{1,2}"), vec!["a1", "a2", "b1", "b2"]);
    }

    #[test]
    fn detects_globs() {
        assert!(has_glob("/a/*"));
        assert!(has_glob("x{a,b}"));
        assert!(!has_glob("/plain/path"));
        assert!(!has_glob("a\\*"));
        assert_eq!(unescape("a\\*b"), "a*b");
    }
}
