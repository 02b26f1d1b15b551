//! The datanode's meta file format (`blk_<id>_<genstamp>.meta`): the pure
//! parser, shared by the datanode's block store and by clients that read
//! replicas directly (short-circuit local reads, `client/src/shortcircuit.rs`).
//!
//! ```text
//! offset  size  field
//!  0       8    magic "TUSKMETA"
//!  8       2    version (big-endian), 1
//! 10       2    flags (big-endian): bit 0 = finalized (length and sha256 valid)
//! 12       4    bytes_per_checksum (big-endian), 512
//! 16       8    replica length in bytes (big-endian), written at finalize
//! 24      32    SHA-256 of the replica's data, written at finalize
//! 56       8    reserved, zero
//! 64      ...   one big-endian CRC32C per chunk; the last chunk may be short
//! ```
//!
//! The CRC region is exactly the byte string whose MD5 Hadoop's
//! MD5-of-MD5-of-CRC32C file checksum needs per block.

use std::fmt;

pub const MAGIC: [u8; 8] = *b"TUSKMETA";
pub const VERSION: u16 = 1;
pub const HEADER_LEN: usize = 64;
pub const FLAG_FINALIZED: u16 = 1;

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetaHeader {
    pub version: u16,
    pub flags: u16,
    pub bytes_per_checksum: u32,
    pub len: u64,
    pub sha256: [u8; 32],
}

/// Why a header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHeader(pub String);

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad meta header: {}", self.0)
    }
}

impl MetaHeader {
    /// The header of a replica still being written.
    pub fn unfinalized(bytes_per_checksum: u32) -> Self {
        Self {
            version: VERSION,
            flags: 0,
            bytes_per_checksum,
            len: 0,
            sha256: [0; 32],
        }
    }

    pub fn is_finalized(&self) -> bool {
        self.flags & FLAG_FINALIZED != 0
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..10].copy_from_slice(&self.version.to_be_bytes());
        b[10..12].copy_from_slice(&self.flags.to_be_bytes());
        b[12..16].copy_from_slice(&self.bytes_per_checksum.to_be_bytes());
        b[16..24].copy_from_slice(&self.len.to_be_bytes());
        b[24..56].copy_from_slice(&self.sha256);
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, BadHeader> {
        if b.len() < HEADER_LEN {
            return Err(BadHeader(format!(
                "{} bytes, expected {HEADER_LEN}",
                b.len()
            )));
        }
        if b[0..8] != MAGIC {
            return Err(BadHeader("wrong magic".into()));
        }
        let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let version = be16(8);
        if version != VERSION {
            return Err(BadHeader(format!("unsupported version {version}")));
        }
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&b[24..56]);
        let mut u32b = [0u8; 4];
        u32b.copy_from_slice(&b[12..16]);
        let mut u64b = [0u8; 8];
        u64b.copy_from_slice(&b[16..24]);
        Ok(Self {
            version,
            flags: be16(10),
            bytes_per_checksum: u32::from_be_bytes(u32b),
            len: u64::from_be_bytes(u64b),
            sha256,
        })
    }
}

/// Byte offset in the meta file of chunk `i`'s CRC.
pub fn crc_offset(chunk: u64) -> u64 {
    HEADER_LEN as u64 + chunk * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let h = MetaHeader {
            version: VERSION,
            flags: FLAG_FINALIZED,
            bytes_per_checksum: 512,
            len: 12345,
            sha256: [7; 32],
        };
        let b = h.encode();
        assert_eq!(&b[0..8], b"TUSKMETA");
        assert_eq!(MetaHeader::decode(&b).unwrap(), h);
        assert!(MetaHeader::decode(&b[..10]).is_err());
        let mut bad = b;
        bad[0] = b'X';
        assert!(MetaHeader::decode(&bad).is_err());
    }
}
