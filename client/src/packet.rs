//! Packetization and CRC32C chunk checksums of the data transfer protocol
//! (pure functions; the writer and reader use them).

/// Bytes covered by one CRC32C (HDFS's `dfs.bytes-per-checksum`).
pub const BYTES_PER_CHECKSUM: usize = 512;
/// Data bytes per write packet. HDFS sends 64 KiB; four times that costs
/// each datanode of a pipeline a quarter of the wake-ups, queue hops and
/// acks per byte (`scripts/bench.sh storage`: replication-1 puts ~1.3x
/// faster on this 2-core machine, see docs/BENCHMARKS.md).
pub const PACKET_SIZE: usize = 256 * 1024;

/// CRC32C of every `bpc`-byte chunk of `data` (the last may be short).
pub fn chunk_checksums(data: &[u8], bpc: usize) -> Vec<u32> {
    let bpc = bpc.max(1);
    data.chunks(bpc).map(crc32c::crc32c).collect()
}

/// Checks `data` against per-chunk checksums. Returns the byte offset (within
/// `data`) of the first bad chunk, or of the first uncovered byte when the
/// checksum count does not match the data.
pub fn verify_chunks(data: &[u8], sums: &[u32], bpc: usize) -> Result<(), usize> {
    let bpc = bpc.max(1);
    let chunks = data.len().div_ceil(bpc);
    for (i, chunk) in data.chunks(bpc).enumerate() {
        match sums.get(i) {
            Some(&s) if s == crc32c::crc32c(chunk) => {}
            _ => return Err(i * bpc),
        }
    }
    if sums.len() != chunks {
        return Err(data.len().min(sums.len() * bpc));
    }
    Ok(())
}

/// How a stream of `total` bytes is cut: packets of at most `packet` bytes
/// that never cross a `block_size` boundary. Returns `(block_index,
/// offset_in_block, len, last_in_block)` for each packet.
pub fn plan_packets(total: u64, block_size: u64, packet: u64) -> Vec<(u64, u64, u64, bool)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < total {
        let block = pos / block_size;
        let in_block = pos % block_size;
        let len = packet.min(block_size - in_block).min(total - pos);
        let last = in_block + len == block_size || pos + len == total;
        out.push((block, in_block, len, last));
        pos += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_cover_short_tail() {
        let data: Vec<u8> = (0..1300u32).map(|i| i as u8).collect();
        let sums = chunk_checksums(&data, 512);
        assert_eq!(sums.len(), 3);
        assert_eq!(sums[2], crc32c::crc32c(&data[1024..]));
        assert_eq!(verify_chunks(&data, &sums, 512), Ok(()));
        assert!(chunk_checksums(&[], 512).is_empty());
        assert_eq!(verify_chunks(&[], &[], 512), Ok(()));
    }

    #[test]
    fn detects_corruption_and_count_mismatch() {
        let mut data = vec![7u8; 2048];
        let sums = chunk_checksums(&data, 512);
        data[1500] ^= 1;
        assert_eq!(verify_chunks(&data, &sums, 512), Err(1024));
        let data = vec![7u8; 2048];
        assert_eq!(verify_chunks(&data, &sums[..3], 512), Err(1536));
        let mut more = sums.clone();
        more.push(0);
        assert_eq!(verify_chunks(&data, &more, 512), Err(2048));
    }

    #[test]
    fn packets_respect_block_boundaries() {
        let p = plan_packets(10, 4, 3);
        assert_eq!(
            p,
            vec![
                (0, 0, 3, false),
                (0, 3, 1, true),
                (1, 0, 3, false),
                (1, 3, 1, true),
                (2, 0, 2, true)
            ]
        );
        assert!(plan_packets(0, 4, 3).is_empty());
        let p = plan_packets(8, 4, 64);
        assert_eq!(p, vec![(0, 0, 4, true), (1, 0, 4, true)]);
    }
}
