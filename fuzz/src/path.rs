//! Target `path`: `tusk_common::path` on arbitrary strings.
//!
//! Invariants: nothing panics; what `normalize` returns validates, never
//! holds `.`/`..`/empty components, stays within the depth and length
//! limits, and is a fixed point (normalizing it again, from any working
//! directory, gives it back); a valid path normalizes to itself;
//! `parent`/`file_name`/`join` round-trip on valid paths.

use crate::gen;
use crate::Target;
use rand::rngs::StdRng;
use rand::Rng;
use tusk_common::path::{
    components, file_name, is_under, join, normalize, parent, validate, MAX_DEPTH, MAX_PATH_LEN,
};

pub struct PathTarget;

#[derive(Debug)]
pub struct PathInput {
    pub cwd: String,
    pub input: String,
}

impl Target for PathTarget {
    type Input = PathInput;

    fn generate(&mut self, rng: &mut StdRng) -> PathInput {
        let cwd = if rng.gen_bool(0.3) {
            "/".to_string()
        } else if rng.gen_bool(0.8) {
            normalize("/", &gen::path_like(rng)).unwrap_or_else(|_| gen::valid_path(rng))
        } else {
            // What a misconfigured client could hold as its working dir.
            gen::path_like(rng)
        };
        PathInput {
            cwd,
            input: gen::path_like(rng),
        }
    }

    fn check(&mut self, i: &PathInput) -> Result<(), String> {
        // Arbitrary strings: none of these may panic.
        let _ = components(&i.input).count();
        let _ = parent(&i.input);
        let _ = file_name(&i.input);
        let _ = is_under(&i.input, &i.cwd);
        let _ = join(&i.cwd, &i.input);

        if validate(&i.input).is_ok() {
            let n = normalize("/", &i.input).map_err(|e| format!("valid path refused: {e}"))?;
            if n != i.input {
                return Err(format!("valid path normalized to {n:?}"));
            }
        }
        let p = match normalize(&i.cwd, &i.input) {
            Ok(p) => p,
            Err(e) => {
                return if e.to_string().is_empty() {
                    Err("empty error message".into())
                } else {
                    Ok(())
                };
            }
        };
        validate(&p).map_err(|e| format!("normalize gave an invalid path: {e}"))?;
        if p.len() > MAX_PATH_LEN {
            return Err(format!("normalized path of {} bytes", p.len()));
        }
        let depth = components(&p).count();
        if depth > MAX_DEPTH {
            return Err(format!("normalized path of depth {depth}"));
        }
        if components(&p).any(|c| c == "." || c == ".." || c.is_empty()) {
            return Err(format!("dot component left in {p:?}"));
        }
        for cwd in ["/", i.cwd.as_str(), p.as_str()] {
            match normalize(cwd, &p) {
                Ok(q) if q == p => {}
                other => return Err(format!("not idempotent from {cwd:?}: {other:?}")),
            }
        }
        match parent(&p) {
            None if p == "/" => {}
            None => return Err(format!("no parent for {p:?}")),
            Some(par) => {
                validate(par).map_err(|e| format!("parent of {p:?} invalid: {e}"))?;
                if join(par, file_name(&p)) != p {
                    return Err(format!("join(parent, file_name) != {p:?}"));
                }
                if !is_under(&p, par) || is_under(par, &p) {
                    return Err(format!("is_under wrong for {p:?} and {par:?}"));
                }
                if components(par).count() + 1 != depth {
                    return Err(format!("parent depth of {p:?}"));
                }
            }
        }
        Ok(())
    }
}
