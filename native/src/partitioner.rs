//! Kafka's default key partitioner (`stream/partitioner.py` in Python): murmur2 as the Java client computes it.

const SEED: u32 = 0x9747_b28c;
const M: u32 = 0x5bd1_e995;

pub fn murmur2(data: &[u8]) -> i32 {
    let length = data.len();
    let mut h = SEED ^ length as u32;
    let whole = length - length % 4;
    for chunk in data[..whole].chunks_exact(4) {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = length % 4;
    if tail == 3 {
        h ^= (data[whole + 2] as u32) << 16;
    }
    if tail >= 2 {
        h ^= (data[whole + 1] as u32) << 8;
    }
    if tail >= 1 {
        h ^= data[whole] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition a record keyed by `key` lands in.
pub fn partition_of_key(key: &[u8], partitions: usize) -> usize {
    ((murmur2(key) as u32 & 0x7fff_ffff) as usize) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_client() {
        // Values from Kafka's own Utils.murmur2 tests.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
        assert_eq!(murmur2(b"abc"), 479470107);
    }
}
