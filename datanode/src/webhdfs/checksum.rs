//! GETFILECHECKSUM: Hadoop's `MD5MD5CRC32FileChecksum` of a file, from the
//! CRC32Cs its replicas store (no block data is read).
//!
//! Per block, a datanode holding it answers the DataTransfer `BlockChecksum`
//! call with the MD5 of the block's big-endian CRC32Cs (one per 512-byte
//! chunk) and the number of CRCs. As Hadoop's `FileChecksumHelper` does:
//! - the file MD5 is the MD5 of `DataOutputBuffer.getData()` holding the
//!   block MD5s, i.e. of its whole backing array: the 16-byte MD5s followed
//!   by zeros up to the array's capacity (32 bytes, doubled as it fills);
//! - `crcPerBlock` is the first block's CRC count for a multi-block file,
//!   0 for a single block;
//! - a file without blocks has the "magic" checksum of older HDFS versions:
//!   `MD5-of-0MD5-of-0CRC32`, the MD5 of 32 zero bytes.
//!
//! The JSON and the binary layout of `bytes` (bytesPerCRC int32 BE,
//! crcPerBlock int64 BE, MD5) are those of Hadoop's `JsonUtil` and
//! `MD5MD5CRC32FileChecksum.write`.

use super::{io_exception, remote, Transfer};
use crate::node::Node;
use axum::response::Response;
use md5::{Digest, Md5};
use std::time::Duration;
use tusk_client::DfsClient;
use tusk_common::webhdfs::{json_ok, json_str, RemoteException};
use tusk_proto as pb;

/// How long one datanode may take to answer BlockChecksum (it reads the
/// block's meta file: 0.8 % of the block).
const BLOCK_CHECKSUM_TIMEOUT: Duration = Duration::from_secs(30);

/// One block's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockSum {
    pub md5_of_crcs: [u8; 16],
    pub bytes_per_crc: u32,
    pub crcs: u64,
}

/// A file checksum as Hadoop's `MD5MD5CRC32FileChecksum` carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileChecksum {
    pub bytes_per_crc: u32,
    pub crc_per_block: u64,
    pub md5: [u8; 16],
    /// `CRC32C`, or `CRC32` for the empty-file magic value.
    pub crc_type: &'static str,
}

impl FileChecksum {
    /// Hadoop's `getAlgorithmName()`.
    pub fn algorithm(&self) -> String {
        format!(
            "MD5-of-{}MD5-of-{}{}",
            self.crc_per_block, self.bytes_per_crc, self.crc_type
        )
    }

    /// Hadoop's `getBytes()`: bytesPerCRC, crcPerBlock, MD5 (28 bytes).
    pub fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(28);
        b.extend_from_slice(&self.bytes_per_crc.to_be_bytes());
        b.extend_from_slice(&self.crc_per_block.to_be_bytes());
        b.extend_from_slice(&self.md5);
        b
    }

    /// The WebHDFS `FileChecksum` JSON object.
    pub fn json(&self) -> String {
        let bytes = self.bytes();
        format!(
            "{{\"FileChecksum\":{{\"algorithm\":{},\"bytes\":\"{}\",\"length\":{}}}}}\n",
            json_str(&self.algorithm()),
            hex::encode(&bytes),
            bytes.len()
        )
    }
}

/// Combines the blocks' answers, in file order.
pub(crate) fn combine(blocks: &[BlockSum]) -> Result<FileChecksum, String> {
    let Some(first) = blocks.first() else {
        return Ok(FileChecksum {
            bytes_per_crc: 0,
            crc_per_block: 0,
            md5: Md5::digest([0u8; 32]).into(),
            crc_type: "CRC32",
        });
    };
    if let Some((i, b)) = blocks
        .iter()
        .enumerate()
        .find(|(_, b)| b.bytes_per_crc != first.bytes_per_crc)
    {
        return Err(format!(
            "Byte-per-checksum not matched: block {i} has bpc={} but bytesPerCRC={}",
            b.bytes_per_crc, first.bytes_per_crc
        ));
    }
    let used = 16 * blocks.len();
    let capacity = used.next_power_of_two().max(32);
    let mut data = Vec::with_capacity(capacity);
    for b in blocks {
        data.extend_from_slice(&b.md5_of_crcs);
    }
    data.resize(capacity, 0);
    Ok(FileChecksum {
        bytes_per_crc: first.bytes_per_crc,
        crc_per_block: if blocks.len() > 1 { first.crcs } else { 0 },
        md5: Md5::digest(&data).into(),
        crc_type: "CRC32C",
    })
}

pub(super) async fn get_file_checksum(
    node: &Node,
    client: DfsClient,
    path: String,
    transfer: Transfer,
) -> Result<Response, RemoteException> {
    let st = client.status(&path).await.map_err(|e| remote(&e, &path))?;
    if st.is_dir() {
        return Err(RemoteException::not_found(format!(
            "Path is not a file: {path}"
        )));
    }
    let blocks = client
        .block_locations(&path)
        .await
        .map_err(|e| remote(&e, &path))?;
    let mut sums = Vec::with_capacity(blocks.len());
    for lb in &blocks {
        sums.push(block_sum(node, &path, lb).await?);
    }
    drop(transfer);
    let sum = combine(&sums).map_err(|e| io_exception(format!("{path}: {e}")))?;
    Ok(json_ok(sum.json()))
}

/// Asks the block's datanodes in turn (nearest first) until one answers for
/// a replica of the expected length.
async fn block_sum(
    node: &Node,
    path: &str,
    lb: &tusk_client::LocatedBlock,
) -> Result<BlockSum, RemoteException> {
    let mut causes = Vec::new();
    for dn in &lb.locations {
        let req = pb::BlockChecksumRequest {
            block: Some(pb::Block {
                block_id: lb.block_id,
                genstamp: lb.genstamp,
                num_bytes: lb.num_bytes,
            }),
            access_token: lb.access_token.clone(),
        };
        let answer = match node.peer(&dn.data_addr) {
            Err(e) => Err(e),
            Ok(mut peer) => {
                match tokio::time::timeout(BLOCK_CHECKSUM_TIMEOUT, peer.block_checksum(req)).await {
                    Err(_) => Err(format!("no answer in {BLOCK_CHECKSUM_TIMEOUT:?}")),
                    Ok(Err(s)) => Err(s.message().to_string()),
                    Ok(Ok(r)) => Ok(r.into_inner()),
                }
            }
        };
        match answer {
            Ok(r) if r.num_bytes != lb.num_bytes => causes.push(format!(
                "{}: replica has {} bytes, the block {}",
                dn.data_addr, r.num_bytes, lb.num_bytes
            )),
            Ok(r) => match <[u8; 16]>::try_from(r.md5_of_crcs.as_ref()) {
                Ok(md5) => {
                    return Ok(BlockSum {
                        md5_of_crcs: md5,
                        bytes_per_crc: r.bytes_per_checksum,
                        crcs: r.crcs_per_block,
                    })
                }
                Err(_) => causes.push(format!(
                    "{}: MD5 of {} bytes",
                    dn.data_addr,
                    r.md5_of_crcs.len()
                )),
            },
            Err(e) => causes.push(format!("{}: {e}", dn.data_addr)),
        }
    }
    if causes.is_empty() {
        causes.push("no datanode holds it".into());
    }
    Err(io_exception(format!(
        "Fail to get block MD5 for blk_{} of {path}: {}",
        lb.block_id,
        causes.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(md5: u8, crcs: u64) -> BlockSum {
        BlockSum {
            md5_of_crcs: [md5; 16],
            bytes_per_crc: 512,
            crcs,
        }
    }

    #[test]
    fn empty_file_has_hadoops_magic_value() {
        let c = combine(&[]).unwrap();
        assert_eq!(c.algorithm(), "MD5-of-0MD5-of-0CRC32");
        assert_eq!(
            hex::encode(c.bytes()),
            "00000000000000000000000070bc8f4b72a86921468bf8e8441dce51"
        );
    }

    #[test]
    fn md5_covers_the_zero_padded_buffer_and_crc_per_block_is_the_first_blocks() {
        let one = combine(&[sum(1, 7)]).unwrap();
        assert_eq!(one.algorithm(), "MD5-of-0MD5-of-512CRC32C");
        let mut padded = [0u8; 32];
        padded[..16].copy_from_slice(&[1; 16]);
        assert_eq!(one.md5, <[u8; 16]>::from(Md5::digest(padded)));

        let three = combine(&[sum(1, 2048), sum(2, 2048), sum(3, 5)]).unwrap();
        assert_eq!(three.algorithm(), "MD5-of-2048MD5-of-512CRC32C");
        let mut buf = vec![0u8; 64];
        for (i, v) in [1u8, 2, 3].iter().enumerate() {
            buf[i * 16..(i + 1) * 16].copy_from_slice(&[*v; 16]);
        }
        assert_eq!(three.md5, <[u8; 16]>::from(Md5::digest(&buf)));
        let j: serde_like::Json = serde_like::parse(&three.json());
        assert_eq!(j.length, 28);
        assert_eq!(j.bytes.len(), 56);
        assert!(
            j.bytes.starts_with("000002000000000000000800"),
            "{}",
            j.bytes
        );

        let mut mixed = [sum(1, 4), sum(2, 4)];
        mixed[1].bytes_per_crc = 1024;
        assert!(combine(&mixed).is_err());
    }

    /// Just enough JSON reading for the test (the crate has no serde_json).
    mod serde_like {
        pub struct Json {
            pub bytes: String,
            pub length: usize,
        }
        pub fn parse(s: &str) -> Json {
            let field = |name: &str| {
                let i = s.find(&format!("\"{name}\":")).unwrap() + name.len() + 3;
                let rest = &s[i..];
                let end = rest.find([',', '}']).unwrap();
                rest[..end].trim_matches('"').to_string()
            };
            Json {
                bytes: field("bytes"),
                length: field("length").parse().unwrap(),
            }
        }
    }
}
