//! The sorted-table file format (LevelDB's, as TensorFlow's `tsl/lib/io/table` writes it) of a
//! TensorBundle's `variables.index`: every key and value of a table, read from its bytes.
//!
//! A table ends with a 48-byte footer: the handles (varint offset and size) of the metaindex
//! block and of the index block, padded to 40 bytes, then the magic number. The index block maps
//! the last key of each data block to that block's handle. Every block is followed by a 5-byte
//! trailer: its compression type and the masked CRC-32C of the block and the type. A block holds
//! prefix-compressed entries (shared key length, unshared key length and value length as
//! varints, the unshared key bytes, the value), then its restart offsets and their count.
//!
//! TensorFlow writes bundle indexes uncompressed: a Snappy-compressed block is refused by name.
//! Every offset and length is checked against the bytes it points into, every block's checksum is
//! verified, and keys must increase strictly, so that a damaged file fails with an error that says
//! where, and nothing is allocated beyond the file's own size.

use anyhow::{bail, ensure, Context, Result};

/// The magic number that ends a table.
const MAGIC: u64 = 0xdb47_7524_8b80_fb57;
/// The footer: two block handles padded to 40 bytes, then the magic number.
const FOOTER_LEN: usize = 48;
/// A block's trailer: its compression type and its masked CRC-32C.
const TRAILER_LEN: usize = 5;
/// The compression type of an uncompressed block.
const NO_COMPRESSION: u8 = 0;
/// The compression type of a Snappy-compressed block.
const SNAPPY: u8 = 1;

/// One key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Every entry of the table in `bytes`, in key order.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<Entry>> {
    let index_handle = footer(bytes)?;
    let index = block_entries(block(bytes, index_handle).context("the index block")?)
        .context("the index block")?;
    let mut entries: Vec<Entry> = Vec::new();
    for (_, handle) in index {
        let handle = BlockHandle::decode(&mut handle.as_slice()).context("an index entry")?;
        let data = block(bytes, handle).with_context(|| handle.describe("data block"))?;
        for (key, value) in block_entries(data).with_context(|| handle.describe("data block"))? {
            if let Some((last, _)) = entries.last() {
                ensure!(
                    key > *last,
                    "key {:?} does not follow {:?}: keys must increase",
                    String::from_utf8_lossy(&key),
                    String::from_utf8_lossy(last)
                );
            }
            entries.push((key, value));
        }
    }
    Ok(entries)
}

/// Where a block is in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct BlockHandle {
    offset: u64,
    size: u64,
}

impl BlockHandle {
    fn decode(input: &mut &[u8]) -> Result<Self> {
        Ok(BlockHandle {
            offset: varint(input).context("a block offset")?,
            size: varint(input).context("a block size")?,
        })
    }

    fn describe(&self, what: &str) -> String {
        format!("the {what} at offset {} ({} bytes)", self.offset, self.size)
    }
}

/// The index block's handle, from the footer (whose magic number must match).
fn footer(bytes: &[u8]) -> Result<BlockHandle> {
    ensure!(
        bytes.len() >= FOOTER_LEN,
        "{} bytes: too short for a table (its footer alone has {FOOTER_LEN})",
        bytes.len()
    );
    let footer = &bytes[bytes.len() - FOOTER_LEN..];
    let magic = u64::from_le_bytes(footer[FOOTER_LEN - 8..].try_into().expect("8 bytes"));
    ensure!(
        magic == MAGIC,
        "not a table: its footer ends with {magic:#018x}, not the magic number {MAGIC:#018x}"
    );
    let mut handles = &footer[..FOOTER_LEN - 8];
    BlockHandle::decode(&mut handles).context("the footer's metaindex handle")?;
    BlockHandle::decode(&mut handles).context("the footer's index handle")
}

/// The contents of the block `handle` points to, its trailer checked.
fn block(bytes: &[u8], handle: BlockHandle) -> Result<&[u8]> {
    let end = handle
        .offset
        .checked_add(handle.size)
        .and_then(|end| end.checked_add(TRAILER_LEN as u64))
        .filter(|&end| end <= bytes.len() as u64)
        .with_context(|| {
            format!(
                "the block runs past the end of the file ({} bytes)",
                bytes.len()
            )
        })?;
    let start = handle.offset as usize;
    let contents_end = end as usize - TRAILER_LEN;
    let (contents, trailer) = (
        &bytes[start..contents_end],
        &bytes[contents_end..end as usize],
    );
    match trailer[0] {
        NO_COMPRESSION => {}
        SNAPPY => bail!(
            "the block is Snappy-compressed, which this reader does not take (TensorFlow writes \
             bundle indexes uncompressed)"
        ),
        other => bail!("unknown block compression type {other}"),
    }
    let stored = unmask(u32::from_le_bytes(
        trailer[1..].try_into().expect("4 bytes"),
    ));
    let computed = crc32c::extend(crc32c::of(contents), &trailer[..1]);
    ensure!(
        stored == computed,
        "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is damaged"
    );
    Ok(contents)
}

/// The entries of a block, their keys rebuilt from the shared prefixes.
fn block_entries(block: &[u8]) -> Result<Vec<Entry>> {
    let restarts_end = block
        .len()
        .checked_sub(4)
        .context("a block shorter than its restart count")?;
    let restarts = u32::from_le_bytes(block[restarts_end..].try_into().expect("4 bytes")) as usize;
    let entries_end = restarts
        .checked_mul(4)
        .and_then(|length| restarts_end.checked_sub(length))
        .with_context(|| format!("{restarts} restart points do not fit in the block"))?;
    let mut input = &block[..entries_end];
    let mut entries: Vec<Entry> = Vec::new();
    while !input.is_empty() {
        let previous = entries.last().map_or(&[][..], |(key, _)| key.as_slice());
        let entry = block_entry(&mut input, previous)
            .with_context(|| format!("entry {} of the block", entries.len()))?;
        entries.push(entry);
    }
    Ok(entries)
}

/// One entry: its key (the first `shared` bytes of the previous key, then its own) and value.
fn block_entry(input: &mut &[u8], previous: &[u8]) -> Result<Entry> {
    let shared = varint_len(input, "shared key length")?;
    let unshared = varint_len(input, "key length")?;
    let value_len = varint_len(input, "value length")?;
    ensure!(
        shared <= previous.len(),
        "shares {shared} key bytes with a previous key of {}",
        previous.len()
    );
    let key_end = unshared
        .checked_add(value_len)
        .filter(|&end| end <= input.len())
        .with_context(|| {
            format!(
                "a {unshared}-byte key and a {value_len}-byte value run past the block's end \
                 ({} bytes left)",
                input.len()
            )
        })?;
    let mut key = previous[..shared].to_vec();
    key.extend_from_slice(&input[..unshared]);
    let value = input[unshared..key_end].to_vec();
    *input = &input[key_end..];
    Ok((key, value))
}

fn varint_len(input: &mut &[u8], what: &str) -> Result<usize> {
    let value = varint(input).with_context(|| format!("the {what}"))?;
    usize::try_from(value).with_context(|| format!("the {what} {value} is too large"))
}

/// Reads a base-128 varint of at most 64 bits.
pub fn varint(input: &mut &[u8]) -> Result<u64> {
    let mut value = 0u64;
    for (index, &byte) in input.iter().enumerate().take(10) {
        let bits = u64::from(byte & 0x7f);
        ensure!(index < 9 || bits <= 1, "a varint larger than 64 bits");
        value |= bits << (7 * index);
        if byte & 0x80 == 0 {
            *input = &input[index + 1..];
            return Ok(value);
        }
    }
    bail!("a varint runs past the end of its bytes or past 10 bytes")
}

/// The delta LevelDB and TensorFlow add to a rotated CRC to store it.
const MASK_DELTA: u32 = 0xa282_ead8;

/// The CRC a masked CRC was made from (TensorFlow's `crc32c::Unmask`).
pub fn unmask(masked: u32) -> u32 {
    masked.wrapping_sub(MASK_DELTA).rotate_left(15)
}

/// The CRC-32C (Castagnoli) checksum, computed a byte at a time from a table built at compile time.
pub mod crc32c {
    /// The reflected Castagnoli polynomial.
    const POLYNOMIAL: u32 = 0x82f6_3b78;

    const TABLE: [u32; 256] = table();

    const fn table() -> [u32; 256] {
        let mut table = [0u32; 256];
        let mut byte = 0;
        while byte < 256 {
            let mut crc = byte as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLYNOMIAL
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[byte] = crc;
            byte += 1;
        }
        table
    }

    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> u32 {
        extend(0, bytes)
    }

    /// The checksum of the bytes `crc` was computed over followed by `bytes`.
    pub fn extend(crc: u32, bytes: &[u8]) -> u32 {
        !bytes.iter().fold(!crc, |crc, &byte| {
            TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8)
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The masked CRC TensorFlow stores for a CRC (`crc32c::Mask`).
    pub(crate) fn mask(crc: u32) -> u32 {
        crc.rotate_right(15).wrapping_add(MASK_DELTA)
    }

    pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push(value as u8 | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
    }

    /// A block of `entries`, prefix-compressed, with one restart point, as a table writer
    /// makes it.
    fn encode_block(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut block = Vec::new();
        let mut previous: &[u8] = &[];
        for (key, value) in entries {
            let shared = previous
                .iter()
                .zip(key.iter())
                .take_while(|(a, b)| a == b)
                .count();
            put_varint(&mut block, shared as u64);
            put_varint(&mut block, (key.len() - shared) as u64);
            put_varint(&mut block, value.len() as u64);
            block.extend_from_slice(&key[shared..]);
            block.extend_from_slice(value);
            previous = key;
        }
        block.extend_from_slice(&0u32.to_le_bytes());
        block.extend_from_slice(&1u32.to_le_bytes());
        block
    }

    /// Appends a block and its trailer; returns its handle.
    fn append_block(file: &mut Vec<u8>, block: &[u8]) -> BlockHandle {
        let handle = BlockHandle {
            offset: file.len() as u64,
            size: block.len() as u64,
        };
        file.extend_from_slice(block);
        file.push(NO_COMPRESSION);
        let crc = crc32c::extend(crc32c::of(block), &[NO_COMPRESSION]);
        file.extend_from_slice(&mask(crc).to_le_bytes());
        handle
    }

    fn encode_handle(handle: BlockHandle) -> Vec<u8> {
        let mut bytes = Vec::new();
        put_varint(&mut bytes, handle.offset);
        put_varint(&mut bytes, handle.size);
        bytes
    }

    /// A table of two data blocks, as TensorFlow's table builder lays it out.
    fn table(first: &[(&[u8], &[u8])], second: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut file = Vec::new();
        let one = append_block(&mut file, &encode_block(first));
        let two = append_block(&mut file, &encode_block(second));
        let meta = append_block(&mut file, &encode_block(&[]));
        let (one, two) = (encode_handle(one), encode_handle(two));
        let last = |entries: &[(&[u8], &[u8])]| entries.last().unwrap().0.to_vec();
        let (last_one, last_two) = (last(first), last(second));
        let index = encode_block(&[(&last_one, &one), (&last_two, &two)]);
        let index = append_block(&mut file, &index);
        let mut footer = encode_handle(meta);
        footer.extend(encode_handle(index));
        footer.resize(FOOTER_LEN - 8, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        file.extend(footer);
        file
    }

    /// A table of `entries` (in key order, two or more), the last one in a block of its own.
    pub(crate) fn write_table(entries: &[(&[u8], &[u8])]) -> Vec<u8> {
        assert!(entries.len() >= 2, "two data blocks of one entry or more");
        let (head, tail) = entries.split_at(entries.len() - 1);
        table(head, tail)
    }

    fn sample() -> Vec<u8> {
        table(
            &[
                (b"", b"header"),
                (b"dense/bias", b"1"),
                (b"dense/kernel", b"22"),
            ],
            &[(b"dense_1/bias", b"333"), (b"dense_1/kernel", b"")],
        )
    }

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c::of(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c::extend(crc32c::of(b"1234"), b"56789"), 0xe306_9283);
        assert_eq!(unmask(mask(0x1234_5678)), 0x1234_5678);
    }

    #[test]
    fn reads_every_entry_of_every_block_with_prefix_compressed_keys() {
        let entries = read_entries(&sample()).unwrap();
        let texts: Vec<(String, String)> = entries
            .iter()
            .map(|(key, value)| {
                (
                    String::from_utf8(key.clone()).unwrap(),
                    String::from_utf8(value.clone()).unwrap(),
                )
            })
            .collect();
        let expected = [
            ("", "header"),
            ("dense/bias", "1"),
            ("dense/kernel", "22"),
            ("dense_1/bias", "333"),
            ("dense_1/kernel", ""),
        ];
        assert_eq!(
            texts,
            expected.map(|(key, value)| (key.to_owned(), value.to_owned()))
        );
    }

    fn error(bytes: &[u8]) -> String {
        format!("{:#}", read_entries(bytes).expect_err("must fail"))
    }

    #[test]
    fn every_truncation_fails_with_an_error() {
        let bytes = sample();
        for length in 0..bytes.len() {
            let message = error(&bytes[..length]);
            assert!(!message.is_empty());
        }
        assert!(error(&bytes[..20]).contains("too short for a table"));
        assert!(error(&bytes[..bytes.len() - 1]).contains("not a table"));
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum_of_its_block() {
        let mut bytes = sample();
        bytes[9] ^= 0x40;
        let message = error(&bytes);
        assert!(
            message.contains("data block at offset 0") && message.contains("checksum mismatch"),
            "{message}"
        );
    }

    #[test]
    fn a_handle_past_the_end_is_refused_before_reading() {
        let mut file = Vec::new();
        let meta = append_block(&mut file, &encode_block(&[]));
        let huge = encode_handle(BlockHandle {
            offset: 0,
            size: u64::MAX - 2,
        });
        let index = append_block(&mut file, &encode_block(&[(b"k", &huge)]));
        let mut footer = encode_handle(meta);
        footer.extend(encode_handle(index));
        footer.resize(FOOTER_LEN - 8, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        file.extend(footer);
        let message = error(&file);
        assert!(
            message.contains("runs past the end of the file"),
            "{message}"
        );
    }

    #[test]
    fn snappy_blocks_and_unsorted_keys_are_refused_by_name() {
        let mut snappy = sample();
        snappy[encode_block(&[(b"", b"header")]).len()] = SNAPPY;
        assert!(error(&snappy).contains("checksum mismatch"));
        let unsorted = table(&[(b"b", b"1")], &[(b"a", b"2")]);
        assert!(error(&unsorted).contains("keys must increase"));
    }

    #[test]
    fn a_snappy_block_with_a_valid_checksum_is_named() {
        let mut file = Vec::new();
        let block = encode_block(&[]);
        file.extend_from_slice(&block);
        file.push(SNAPPY);
        let crc = crc32c::extend(crc32c::of(&block), &[SNAPPY]);
        file.extend_from_slice(&mask(crc).to_le_bytes());
        let handle = BlockHandle {
            offset: 0,
            size: block.len() as u64,
        };
        let mut footer = encode_handle(handle);
        footer.extend(encode_handle(handle));
        footer.resize(FOOTER_LEN - 8, 0);
        footer.extend_from_slice(&MAGIC.to_le_bytes());
        file.extend(footer);
        assert!(error(&file).contains("Snappy-compressed"));
    }

    #[test]
    fn varints_beyond_64_bits_or_the_input_are_errors() {
        assert_eq!(varint(&mut &[0xac, 0x02][..]).unwrap(), 300);
        assert!(varint(&mut &[0x80, 0x80][..]).is_err());
        assert!(varint(&mut &[0xff; 10][..]).is_err());
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(varint(&mut &max[..]).unwrap(), u64::MAX);
    }
}
