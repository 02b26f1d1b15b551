//! `chmod` modes: octal (`755`, `1777`) or symbolic (`u+x,go-w`, `a=r`,
//! `+X`, `o+t`), applied as Hadoop's `ChmodParser` does (no `who` = all).

/// A parsed mode change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeChange {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One symbolic clause: who, op, what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Mask of the affected rwx bits across u/g/o (e.g. 0o700 for `u`).
    who: u32,
    op: char,
    /// `r`, `w`, `x` as 4/2/1.
    perms: u32,
    /// `X`: execute only for directories or when some execute bit is set.
    cond_x: bool,
    sticky: bool,
}

/// Parses a mode argument.
pub fn parse(s: &str) -> Result<ModeChange, String> {
    let bad = || format!("chmod : mode '{s}' does not match the expected pattern.");
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
        if s.len() > 4 {
            return Err(bad());
        }
        return u32::from_str_radix(s, 8)
            .map(ModeChange::Octal)
            .map_err(|_| bad());
    }
    let mut clauses = Vec::new();
    for part in s.split(',') {
        let mut chars = part.chars().peekable();
        let mut who = 0;
        while let Some(&c) = chars.peek() {
            match c {
                'u' => who |= 0o700,
                'g' => who |= 0o070,
                'o' => who |= 0o007,
                'a' => who |= 0o777,
                _ => break,
            }
            chars.next();
        }
        if who == 0 {
            who = 0o777;
        }
        let mut any_op = false;
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return Err(bad());
            }
            any_op = true;
            let mut clause = Clause {
                who,
                op,
                perms: 0,
                cond_x: false,
                sticky: false,
            };
            while let Some(&c) = chars.peek() {
                match c {
                    'r' => clause.perms |= 4,
                    'w' => clause.perms |= 2,
                    'x' => clause.perms |= 1,
                    'X' => clause.cond_x = true,
                    't' => clause.sticky = true,
                    _ => break,
                }
                chars.next();
            }
            clauses.push(clause);
        }
        if !any_op {
            return Err(bad());
        }
    }
    Ok(ModeChange::Symbolic(clauses))
}

impl ModeChange {
    /// The new mode of an inode with mode `old`.
    pub fn apply(&self, old: u32, is_dir: bool) -> u32 {
        match self {
            ModeChange::Octal(m) => *m & 0o7777,
            ModeChange::Symbolic(clauses) => {
                let mut mode = old & 0o7777;
                for c in clauses {
                    let mut p = c.perms;
                    if c.cond_x && (is_dir || mode & 0o111 != 0) {
                        p |= 1;
                    }
                    let bits = (p * 0o111) & c.who;
                    match c.op {
                        '+' => mode |= bits,
                        '-' => mode &= !bits,
                        _ => mode = (mode & !c.who) | bits,
                    }
                    if c.sticky {
                        match c.op {
                            '-' => mode &= !0o1000,
                            _ => mode |= 0o1000,
                        }
                    } else if c.op == '=' && c.who & 0o007 != 0 {
                        mode &= !0o1000;
                    }
                }
                mode
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(m: &str, old: u32, dir: bool) -> u32 {
        parse(m).unwrap().apply(old, dir)
    }

    #[test]
    fn octal() {
        assert_eq!(ap("755", 0o600, false), 0o755);
        assert_eq!(ap("1777", 0, true), 0o1777);
        assert!(parse("12345").is_err());
        assert!(parse("789").is_err());
    }

    #[test]
    fn symbolic() {
        assert_eq!(ap("u+x", 0o644, false), 0o744);
        assert_eq!(ap("go-w", 0o666, false), 0o644);
        assert_eq!(ap("a=r", 0o755, false), 0o444);
        assert_eq!(ap("u+x,go-w", 0o666, false), 0o744);
        assert_eq!(ap("+x", 0o644, false), 0o755);
        assert_eq!(ap("o=", 0o777, false), 0o770);
        assert_eq!(ap("u=rwx,g=rx,o=", 0, false), 0o750);
        assert_eq!(ap("a+X", 0o644, true), 0o755);
        assert_eq!(ap("a+X", 0o644, false), 0o644);
        assert_eq!(ap("a+X", 0o744, false), 0o755);
        assert_eq!(ap("+t", 0o777, true), 0o1777);
        assert_eq!(ap("-t", 0o1777, true), 0o777);
        assert_eq!(ap("u+rw-x", 0o100, false), 0o600);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("u").is_err());
        assert!(parse("z+x").is_err());
        assert!(parse("u+q").is_err());
    }
}
