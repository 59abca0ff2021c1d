//! A TensorBundle (the `variables/` of a SavedModel, TensorFlow's checkpoint format V2), read
//! without TensorFlow: `<prefix>.index` is a sorted table ([`super::table`]) mapping each tensor's
//! name to a `BundleEntryProto` (data type, shape, shard, offset, size, CRC-32C), the empty name
//! holding the `BundleHeaderProto` (number of shards, endianness, version); the shards
//! `<prefix>.data-<shard>-of-<shards>` hold the tensors' little-endian bytes.
//!
//! A tensor is read only when asked for, from its own byte range: its declared size must agree
//! with its data type and shape, and lie within its shard, before anything is allocated, and its
//! checksum must match. Strings (`DT_STRING`) are read in the bundle's encoding (the lengths as
//! varints, their checksum, then the bytes). Partitioned variables (slices) and big-endian
//! bundles are refused by name.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use prost::Message;
use tract_tensorflow::tfpb::tensorflow::{DataType, TensorProto, TensorShapeProto, VersionDef};

use super::table::{self, crc32c, unmask};
use crate::model::ModelSource;

/// The bundle format version this reader implements (TensorFlow's `kTensorBundleVersion`).
const BUNDLE_VERSION: i32 = 1;

/// The most shards a bundle may declare.
const MAX_SHARDS: i32 = 100_000;

/// The bundle's header, under the empty key.
#[derive(Clone, PartialEq, Message)]
struct BundleHeaderProto {
    #[prost(int32, tag = "1")]
    num_shards: i32,
    /// 0: little-endian, 1: big-endian.
    #[prost(int32, tag = "2")]
    endianness: i32,
    #[prost(message, optional, tag = "3")]
    version: Option<VersionDef>,
}

/// Where one tensor is and what it is.
#[derive(Clone, PartialEq, Message)]
pub struct BundleEntryProto {
    /// The data type.
    #[prost(enumeration = "DataType", tag = "1")]
    pub dtype: i32,
    /// The shape.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    /// The shard that holds the bytes.
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    /// The bytes' offset in the shard.
    #[prost(int64, tag = "4")]
    pub offset: i64,
    /// The number of bytes.
    #[prost(int64, tag = "5")]
    pub size: i64,
    /// The masked CRC-32C of the bytes.
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// The slices of a partitioned variable (`TensorSliceProto`s, kept encoded).
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub slices: Vec<Vec<u8>>,
}

/// A bundle's index, ready to read tensors from its shards.
#[derive(Debug)]
pub struct Bundle {
    source: ModelSource,
    prefix: PathBuf,
    shards: i32,
    entries: BTreeMap<String, BundleEntryProto>,
}

impl Bundle {
    /// Reads the index `<prefix>.index` (e.g. `saved_model/variables/variables`); the index and
    /// the shards are read as `source` allows.
    pub fn open(prefix: &Path, source: &ModelSource) -> Result<Self> {
        let index = with_suffix(prefix, ".index");
        let bytes = source.read_file(&index)?;
        Self::from_index(prefix, &bytes, source).with_context(|| format!("{}", index.display()))
    }

    /// A bundle whose index has the bytes `index` and whose shards are beside `prefix`.
    fn from_index(prefix: &Path, index: &[u8], source: &ModelSource) -> Result<Self> {
        let mut entries = BTreeMap::new();
        let mut header = None;
        for (key, value) in table::read_entries(index)? {
            let name = String::from_utf8(key).context("a tensor name that is not UTF-8")?;
            if name.is_empty() {
                header = Some(BundleHeaderProto::decode(value.as_slice()).context("the header")?);
                continue;
            }
            let entry = BundleEntryProto::decode(value.as_slice())
                .with_context(|| format!("the entry of `{name}`"))?;
            entries.insert(name, entry);
        }
        let shards = check_header(header.context("no header (the empty key)")?)?;
        Ok(Bundle {
            source: source.clone(),
            prefix: prefix.to_owned(),
            shards,
            entries,
        })
    }

    /// The entry of the tensor `name`, if the bundle has one.
    pub fn entry(&self, name: &str) -> Option<&BundleEntryProto> {
        self.entries.get(name)
    }

    /// The tensor `name`, of a numeric or boolean type, as a `TensorProto` with its bytes in
    /// `tensor_content`.
    pub fn tensor(&self, name: &str) -> Result<TensorProto> {
        let entry = self.known_entry(name)?;
        let dtype = data_type(entry.dtype)?;
        let width = element_width(dtype)
            .with_context(|| format!("`{name}` is {}, not a numeric type", dtype.as_str_name()))?;
        let elements = element_count(entry.shape.as_ref())?;
        let declared = elements.checked_mul(width);
        ensure!(
            declared == Some(entry.size as u64),
            "`{name}`: {} bytes declared for {elements} {} values",
            entry.size,
            dtype.as_str_name()
        );
        let bytes = self.bytes(name, entry)?;
        self.check_checksum(name, entry, crc32c::of(&bytes))?;
        Ok(TensorProto {
            dtype: entry.dtype,
            tensor_shape: entry.shape.clone(),
            tensor_content: bytes,
            ..TensorProto::default()
        })
    }

    /// The strings of the `DT_STRING` tensor `name`.
    pub fn strings(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let entry = self.known_entry(name)?;
        ensure!(
            entry.dtype == DataType::DtString as i32,
            "`{name}` is not a string tensor"
        );
        let elements = element_count(entry.shape.as_ref())?;
        let bytes = self.bytes(name, entry)?;
        let (strings, crc) =
            decode_strings(&bytes, elements).with_context(|| format!("`{name}`"))?;
        self.check_checksum(name, entry, crc)?;
        Ok(strings)
    }

    fn known_entry(&self, name: &str) -> Result<&BundleEntryProto> {
        let entry = self
            .entries
            .get(name)
            .with_context(|| format!("the checkpoint has no tensor `{name}`"))?;
        ensure!(
            entry.slices.is_empty(),
            "`{name}` is a partitioned variable ({} slices), which is not supported",
            entry.slices.len()
        );
        Ok(entry)
    }

    /// The bytes of an entry, read from its shard.
    fn bytes(&self, name: &str, entry: &BundleEntryProto) -> Result<Vec<u8>> {
        let (shard_id, shards) = (entry.shard_id, self.shards);
        ensure!(
            (0..shards).contains(&shard_id),
            "`{name}` is in shard {shard_id}, but the bundle has {shards}"
        );
        let path = self.shard(shard_id);
        read_range(&self.source, &path, entry.offset, entry.size)
            .with_context(|| format!("`{name}` in {}", path.display()))
    }

    /// The path of shard `shard_id`.
    fn shard(&self, shard_id: i32) -> PathBuf {
        let shards = self.shards;
        with_suffix(&self.prefix, &format!(".data-{shard_id:05}-of-{shards:05}"))
    }

    /// Fails unless `computed` is the checksum the entry stores.
    fn check_checksum(&self, name: &str, entry: &BundleEntryProto, computed: u32) -> Result<()> {
        let stored = unmask(entry.crc32c);
        ensure!(
            stored == computed,
            "`{name}`: checksum mismatch (stored {stored:#010x}, computed {computed:#010x}) in {}",
            self.shard(entry.shard_id).display()
        );
        Ok(())
    }
}

/// The number of shards, once the header is one this reader can read.
fn check_header(header: BundleHeaderProto) -> Result<i32> {
    ensure!(
        header.endianness == 0,
        "the bundle is big-endian, which is not supported"
    );
    let version = header.version.unwrap_or_default();
    ensure!(
        version.min_consumer <= BUNDLE_VERSION && !version.bad_consumers.contains(&BUNDLE_VERSION),
        "the bundle needs a reader of version {} or later (this one is {BUNDLE_VERSION})",
        version.min_consumer
    );
    ensure!(
        (1..=MAX_SHARDS).contains(&header.num_shards),
        "the header declares {} shards",
        header.num_shards
    );
    Ok(header.num_shards)
}

/// `size` bytes at `offset` in the file at `path` (opened as `source` allows), checked against
/// its length before reading.
fn read_range(source: &ModelSource, path: &Path, offset: i64, size: i64) -> Result<Vec<u8>> {
    let (mut file, length) = source.open_file(path)?;
    let (start, count) = (u64::try_from(offset), u64::try_from(size));
    let (Ok(start), Ok(count)) = (start, count) else {
        bail!("negative offset {offset} or size {size}");
    };
    ensure!(
        start.checked_add(count).is_some_and(|end| end <= length),
        "{count} bytes at offset {start} run past the end of the shard ({length} bytes)"
    );
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = vec![0; count as usize];
    file.read_exact(&mut bytes).context("reading the shard")?;
    Ok(bytes)
}

/// The strings of a string tensor (`elements` varint lengths, their masked checksum, the bytes)
/// and the checksum the bundle keeps for them: of the lengths as 32-bit integers, their
/// checksum's bytes, and the strings' bytes.
fn decode_strings(bytes: &[u8], elements: u64) -> Result<(Vec<Vec<u8>>, u32)> {
    ensure!(
        elements <= bytes.len() as u64,
        "{elements} strings in {} bytes",
        bytes.len()
    );
    let mut input = bytes;
    let mut lengths = Vec::with_capacity(elements as usize);
    let mut crc = 0;
    for _ in 0..elements {
        let length = table::varint(&mut input).context("a string length")?;
        let length = u32::try_from(length)
            .with_context(|| format!("a string of {length} bytes (4 GiB or more)"))?;
        crc = crc32c::extend(crc, &length.to_le_bytes());
        lengths.push(length);
    }
    let (checksum, mut input) = input
        .split_first_chunk::<4>()
        .context("the lengths' checksum is missing")?;
    ensure!(
        unmask(u32::from_le_bytes(*checksum)) == crc,
        "the string lengths' checksum does not match"
    );
    crc = crc32c::extend(crc, checksum);
    let mut strings = Vec::with_capacity(lengths.len());
    for length in lengths {
        let length = usize::try_from(length)
            .ok()
            .filter(|&length| length <= input.len())
            .with_context(|| format!("a {length}-byte string runs past the tensor's bytes"))?;
        let (string, rest) = input.split_at(length);
        crc = crc32c::extend(crc, string);
        strings.push(string.to_vec());
        input = rest;
    }
    ensure!(input.is_empty(), "{} bytes after the strings", input.len());
    Ok((strings, crc))
}

fn data_type(dtype: i32) -> Result<DataType> {
    DataType::try_from(dtype).map_err(|_| anyhow::anyhow!("unknown data type {dtype}"))
}

/// The bytes of one value of a numeric or boolean type; `None` for other types.
pub fn element_width(dtype: DataType) -> Option<u64> {
    use DataType::*;
    Some(match dtype {
        DtBool | DtInt8 | DtUint8 => 1,
        DtHalf | DtBfloat16 | DtInt16 | DtUint16 => 2,
        DtFloat | DtInt32 | DtUint32 => 4,
        DtDouble | DtInt64 | DtUint64 => 8,
        _ => return None,
    })
}

/// The number of values of a shape whose dimensions are all known.
pub fn element_count(shape: Option<&TensorShapeProto>) -> Result<u64> {
    let Some(shape) = shape else {
        return Ok(1);
    };
    ensure!(!shape.unknown_rank, "a shape of unknown rank");
    shape.dim.iter().try_fold(1u64, |count, dim| {
        let size = u64::try_from(dim.size).with_context(|| format!("dimension {}", dim.size))?;
        count
            .checked_mul(size)
            .with_context(|| "a shape of more than 2^64 values".to_string())
    })
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut path = prefix.as_os_str().to_owned();
    path.push(suffix);
    path.into()
}

#[cfg(test)]
mod tests {
    use super::super::table::tests::{mask, put_varint, write_table};
    use super::*;
    use tract_tensorflow::tfpb::tensorflow::tensor_shape_proto::Dim;

    /// A bundle written into a fresh temporary directory, removed on drop.
    struct Written {
        directory: PathBuf,
    }

    impl Written {
        /// A bundle of one shard holding `data`, with `header` and `entries`.
        fn new(
            header: BundleHeaderProto,
            entries: &[(&str, BundleEntryProto)],
            data: &[u8],
        ) -> Self {
            static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let count = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let directory =
                std::env::temp_dir().join(format!("bundle-test-{}-{count}", std::process::id()));
            std::fs::create_dir_all(&directory).unwrap();
            let header = header.encode_to_vec();
            let encoded: Vec<(&[u8], Vec<u8>)> = entries
                .iter()
                .map(|(name, entry)| (name.as_bytes(), entry.encode_to_vec()))
                .collect();
            let mut table: Vec<(&[u8], &[u8])> = vec![(b"", &header)];
            table.extend(
                encoded
                    .iter()
                    .map(|(name, entry)| (*name, entry.as_slice())),
            );
            let written = Written { directory };
            std::fs::write(
                written.prefix().with_extension("index"),
                write_table(&table),
            )
            .unwrap();
            let shard = with_suffix(&written.prefix(), ".data-00000-of-00001");
            std::fs::write(shard, data).unwrap();
            written
        }

        fn prefix(&self) -> PathBuf {
            self.directory.canonicalize().unwrap().join("variables")
        }

        fn open(&self) -> Result<Bundle> {
            let source = ModelSource::new(Some(self.directory.clone()), ModelSource::MAX_BYTES);
            Bundle::open(&self.prefix(), &source)
        }
    }

    impl Drop for Written {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.directory);
        }
    }

    fn header() -> BundleHeaderProto {
        BundleHeaderProto {
            num_shards: 1,
            endianness: 0,
            version: Some(VersionDef {
                producer: 1,
                ..VersionDef::default()
            }),
        }
    }

    fn shape(dims: &[i64]) -> Option<TensorShapeProto> {
        Some(TensorShapeProto {
            dim: dims
                .iter()
                .map(|&size| Dim {
                    size,
                    name: String::new(),
                })
                .collect(),
            unknown_rank: false,
        })
    }

    fn floats(values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect()
    }

    /// An entry for `bytes` of `dtype` and `dims` at `offset` of shard 0.
    fn entry(dtype: DataType, dims: &[i64], offset: i64, bytes: &[u8]) -> BundleEntryProto {
        BundleEntryProto {
            dtype: dtype as i32,
            shape: shape(dims),
            offset,
            size: bytes.len() as i64,
            crc32c: mask(crc32c::of(bytes)),
            ..BundleEntryProto::default()
        }
    }

    fn error(written: &Written, name: &str) -> String {
        let bundle = written.open().expect("the index reads");
        format!("{:#}", bundle.tensor(name).expect_err("must fail"))
    }

    #[test]
    fn reads_tensors_from_their_byte_ranges() {
        let (one, two) = (floats(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), floats(&[7.5]));
        let data = [one.as_slice(), two.as_slice()].concat();
        let written = Written::new(
            header(),
            &[
                ("a/kernel", entry(DataType::DtFloat, &[2, 3], 0, &one)),
                ("b/bias", entry(DataType::DtFloat, &[], 24, &two)),
            ],
            &data,
        );
        let bundle = written.open().unwrap();
        let kernel = bundle.tensor("a/kernel").unwrap();
        assert_eq!(kernel.tensor_content, one);
        assert_eq!(kernel.tensor_shape, shape(&[2, 3]));
        assert_eq!(bundle.tensor("b/bias").unwrap().tensor_content, two);
        let missing = format!("{:#}", bundle.tensor("c").unwrap_err());
        assert!(missing.contains("no tensor `c`"), "{missing}");
    }

    #[test]
    fn declared_sizes_are_checked_before_reading() {
        let bytes = floats(&[1.0, 2.0]);
        let mut wrong_size = entry(DataType::DtFloat, &[3], 0, &bytes);
        wrong_size.size = i64::MAX;
        let huge_shape = entry(DataType::DtFloat, &[1 << 40, 1 << 40], 0, &bytes);
        let mut past_the_shard = entry(DataType::DtFloat, &[1 << 30], 0, &bytes);
        past_the_shard.size = 4 << 30;
        let mut negative = entry(DataType::DtFloat, &[2], -8, &bytes);
        negative.offset = -8;
        let mut other_shard = entry(DataType::DtFloat, &[2], 0, &bytes);
        other_shard.shard_id = 3;
        let mut corrupt = entry(DataType::DtFloat, &[2], 0, &bytes);
        corrupt.crc32c ^= 1;
        let written = Written::new(
            header(),
            &[
                ("corrupt", corrupt),
                ("huge_shape", huge_shape),
                ("negative", negative),
                ("other_shard", other_shard),
                ("past_the_shard", past_the_shard),
                ("wrong_size", wrong_size),
            ],
            &bytes,
        );
        let cases = [
            (
                "wrong_size",
                "9223372036854775807 bytes declared for 3 DT_FLOAT values",
            ),
            ("huge_shape", "more than 2^64 values"),
            (
                "past_the_shard",
                "4294967296 bytes at offset 0 run past the end of the shard (8 bytes)",
            ),
            ("negative", "negative offset -8"),
            ("other_shard", "is in shard 3, but the bundle has 1"),
            ("corrupt", "checksum mismatch"),
        ];
        for (name, expected) in cases {
            let message = error(&written, name);
            assert!(message.contains(expected), "{name}: {message}");
        }
    }

    #[test]
    fn unsupported_bundles_and_entries_are_named() {
        let bytes = floats(&[1.0]);
        let big_endian = Written::new(
            BundleHeaderProto {
                endianness: 1,
                ..header()
            },
            &[("w", entry(DataType::DtFloat, &[1], 0, &bytes))],
            &bytes,
        );
        let message = format!("{:#}", big_endian.open().unwrap_err());
        assert!(message.contains("big-endian"), "{message}");
        let newer = Written::new(
            BundleHeaderProto {
                version: Some(VersionDef {
                    producer: 2,
                    min_consumer: 2,
                    ..VersionDef::default()
                }),
                ..header()
            },
            &[("w", entry(DataType::DtFloat, &[1], 0, &bytes))],
            &bytes,
        );
        let message = format!("{:#}", newer.open().unwrap_err());
        assert!(message.contains("version 2 or later"), "{message}");
        let mut sliced = entry(DataType::DtFloat, &[1], 0, &bytes);
        sliced.slices = vec![Vec::new()];
        let resource = entry(DataType::DtResource, &[1], 0, &bytes);
        let written = Written::new(header(), &[("r", resource), ("s", sliced)], &bytes);
        assert!(error(&written, "s").contains("partitioned variable"));
        assert!(error(&written, "r").contains("DT_RESOURCE, not a numeric type"));
    }

    /// A string tensor in the bundle's encoding, and the checksum of its entry.
    fn encode_strings(strings: &[&[u8]]) -> (Vec<u8>, u32) {
        let mut bytes = Vec::new();
        let mut crc = 0;
        for string in strings {
            put_varint(&mut bytes, string.len() as u64);
            crc = crc32c::extend(crc, &(string.len() as u32).to_le_bytes());
        }
        let checksum = mask(crc).to_le_bytes();
        bytes.extend_from_slice(&checksum);
        crc = crc32c::extend(crc, &checksum);
        for string in strings {
            bytes.extend_from_slice(string);
            crc = crc32c::extend(crc, string);
        }
        (bytes, crc)
    }

    #[test]
    fn reads_strings_and_refuses_damaged_ones() {
        let (good, good_crc) = encode_strings(&[b"first", b"", b"third one"]);
        let (mut bad_lengths, _) = encode_strings(&[b"x"]);
        bad_lengths[0] = 200;
        let data = [good.as_slice(), bad_lengths.as_slice()].concat();
        let mut good_entry = entry(DataType::DtString, &[3], 0, &good);
        good_entry.crc32c = mask(good_crc);
        let written = Written::new(
            header(),
            &[
                (
                    "bad",
                    entry(DataType::DtString, &[1], good.len() as i64, &bad_lengths),
                ),
                ("good", good_entry),
            ],
            &data,
        );
        let bundle = written.open().unwrap();
        let strings = bundle.strings("good").unwrap();
        assert_eq!(
            strings,
            [b"first".to_vec(), Vec::new(), b"third one".to_vec()]
        );
        let message = format!("{:#}", bundle.strings("bad").unwrap_err());
        assert!(message.contains("`bad`"), "{message}");
    }
}
