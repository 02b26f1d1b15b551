//! Generators of the inputs that break parsers: path-like strings made of
//! separators, dot components, NULs, over-long components and non-ASCII;
//! integers at their extremes; byte strings mutated from valid ones.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Pieces that paths are made of, good and bad.
const PATH_PIECES: &[&str] = &[
    "/", "/", "/", "a", "b", "dir", "file.txt", ".", "..", "...", "", "\0", " ", "é", "日本", "🦀",
    "%2F", "%", "a b", "\\", "//", "/./", "/../", "~", "*", "?", "#", "\n", "\u{FEFF}", "\u{0301}",
];

/// A path-like string: mostly structured, sometimes pure noise.
pub fn path_like(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10) {
        0 => random_string(rng, 64),
        1 => {
            // Deep: around the depth limit.
            let depth = rng.gen_range(990..1010);
            "/d".repeat(depth)
        }
        2 => {
            // Long components: around the component-length limit, and
            // around the path-length limit.
            let mut s = String::new();
            for _ in 0..rng.gen_range(1..40) {
                s.push('/');
                let len = *[1, 254, 255, 256, 300].choose(rng).unwrap();
                s.push_str(&"x".repeat(len));
            }
            s
        }
        _ => {
            let mut s = String::new();
            if rng.gen_bool(0.8) {
                s.push('/');
            }
            for _ in 0..rng.gen_range(0..12) {
                s.push_str(PATH_PIECES.choose(rng).unwrap());
                if rng.gen_bool(0.5) {
                    s.push('/');
                }
            }
            s
        }
    }
}

/// A valid path (as the namenode would accept it) of a few components, so
/// that operations reach past validation.
pub fn valid_path(rng: &mut StdRng) -> String {
    const NAMES: &[&str] = &["a", "b", "c", "d", "f", "x.txt", "é", "sp ace"];
    let mut s = String::new();
    for _ in 0..rng.gen_range(1..4) {
        s.push('/');
        s.push_str(NAMES.choose(rng).unwrap());
    }
    s
}

/// A string of up to `max` random characters from a mix of ASCII,
/// control characters and arbitrary code points.
pub fn random_string(rng: &mut StdRng, max: usize) -> String {
    let n = rng.gen_range(0..=max);
    (0..n)
        .map(|_| match rng.gen_range(0..4) {
            0 => rng.gen_range(0u8..0x20) as char,
            1 | 2 => rng.gen_range(0x20u8..0x7f) as char,
            _ => rng.gen::<char>(),
        })
        .collect()
}

/// Random bytes, up to `max` of them.
pub fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n).map(|_| rng.gen()).collect()
}

/// An unsigned value at or near an extreme, or small.
pub fn extreme_u64(rng: &mut StdRng) -> u64 {
    *[
        0,
        1,
        2,
        511,
        512,
        4096,
        1 << 20,
        128 << 20,
        i32::MAX as u64,
        u32::MAX as u64,
        i64::MAX as u64,
        i64::MAX as u64 + 1,
        u64::MAX - 1,
        u64::MAX,
        rng.gen(),
    ]
    .choose(rng)
    .unwrap()
}

pub fn extreme_i64(rng: &mut StdRng) -> i64 {
    *[0, 1, -1, -2, i64::MIN, i64::MIN + 1, i64::MAX, rng.gen()]
        .choose(rng)
        .unwrap()
}

pub fn extreme_u32(rng: &mut StdRng) -> u32 {
    *[0, 1, 3, 0o777, 0o1777, 0o7777, 0xFFFF, u32::MAX, rng.gen()]
        .choose(rng)
        .unwrap()
}

/// Mutates `data` in place: bit flips, byte changes, insertions and
/// deletions, splices of extreme varints and over-long length prefixes.
pub fn mutate(rng: &mut StdRng, data: &mut Vec<u8>) {
    for _ in 0..rng.gen_range(1..5) {
        let len = data.len();
        match rng.gen_range(0..8) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.gen_range(0..len);
                data[i] = *[0, 0xFF, 0x7F, 0x80, rng.gen()].choose(rng).unwrap();
            }
            2 => {
                let i = rng.gen_range(0..=len);
                data.insert(i, rng.gen());
            }
            3 if len > 0 => {
                let i = rng.gen_range(0..len);
                let n = rng.gen_range(1..=(len - i).min(8));
                data.drain(i..i + n);
            }
            4 => {
                // A ten-byte varint (u64::MAX) or an over-long one.
                let i = rng.gen_range(0..=len);
                let n = rng.gen_range(9..12);
                let mut v = vec![0xFF; n];
                v.push(0x01);
                data.splice(i..i, v);
            }
            5 => {
                // A length-delimited field claiming far more bytes than follow.
                let i = rng.gen_range(0..=len);
                let field = rng.gen_range(1u8..16);
                data.splice(i..i, [field << 3 | 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
            }
            6 if len > 1 => {
                // Duplicate a slice (repeated fields, nested messages).
                let a = rng.gen_range(0..len);
                let b = rng.gen_range(a..len);
                let piece = data[a..=b].to_vec();
                let i = rng.gen_range(0..=len);
                data.splice(i..i, piece);
            }
            _ => {
                let i = rng.gen_range(0..=len);
                let tail = random_bytes(rng, 8);
                data.splice(i..i, tail);
            }
        }
    }
}
