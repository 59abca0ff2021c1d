//! Where a model's bytes may come from, and the limits on them: the bytes a descriptor carries
//! (at most [`ModelSource::max_bytes`]), or a regular file under the one directory the job
//! allows (`serve --model-root`). Nothing else is read: without a root a location is refused; a
//! path that leaves the root (`..`, a symbolic link pointing out), a device, a FIFO, a socket or a
//! file over the size limit is refused before a byte of it is read, and the refusal does not say
//! whether a file outside the root exists.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use super::{ModelError, ModelKind};
use crate::proto::model_descriptor::MessageContent;
use crate::proto::ModelDescriptor;

/// What a model may be read from: the descriptor's bytes, or files under `root`.
#[derive(Clone, Debug)]
pub struct ModelSource {
    /// The directory under which `location`s are read; `None` refuses every location.
    pub root: Option<PathBuf>,
    /// The most bytes a model may have, inline or in one file.
    pub max_bytes: u64,
}

/// What a descriptor's content turned out to be.
pub enum ModelContent<'d> {
    /// The model's bytes (inline, or read from a file under the root).
    Bytes(Cow<'d, [u8]>),
    /// A directory under the root (a TensorFlow SavedModel), as a canonical path.
    Directory(PathBuf),
}

impl Default for ModelSource {
    fn default() -> Self {
        ModelSource {
            root: None,
            max_bytes: Self::MAX_BYTES,
        }
    }
}

impl ModelSource {
    /// The default [`ModelSource::max_bytes`]: 256 MiB.
    pub const MAX_BYTES: u64 = 256 << 20;

    /// Models inline or under `root`, up to `max_bytes` each.
    pub fn new(root: Option<PathBuf>, max_bytes: u64) -> Self {
        ModelSource { root, max_bytes }
    }

    /// The content of `descriptor`: its bytes, or the file or directory its location names.
    pub fn content<'d>(
        &self,
        descriptor: &'d ModelDescriptor,
    ) -> Result<ModelContent<'d>, ModelError> {
        let kind = ModelKind::from_wire(descriptor.modeltype());
        match &descriptor.message_content {
            Some(MessageContent::Data(bytes)) => {
                self.check_size(bytes.len() as u64, "the model bytes")?;
                Ok(ModelContent::Bytes(bytes.as_slice().into()))
            }
            Some(MessageContent::Location(location)) => {
                let path = self.resolve(location)?;
                if path.is_dir() {
                    return Ok(ModelContent::Directory(path));
                }
                Ok(ModelContent::Bytes(self.read_file(&path)?.into()))
            }
            None => Err(ModelError::Invalid {
                kind,
                reason: "the descriptor carries neither model bytes nor a location".into(),
            }),
        }
    }

    /// The canonical path of `location` under the root: relative locations are taken from the
    /// root, absolute ones must lie under it, and symbolic links are followed only while they
    /// stay under it.
    pub fn resolve(&self, location: &str) -> Result<PathBuf, ModelError> {
        let refuse = |reason: &str| ModelError::Location {
            location: location.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(root) = &self.root else {
            return Err(refuse(
                "models are not read from files here (start the job with --model-root DIR)",
            ));
        };
        let root = root
            .canonicalize()
            .map_err(|error| refuse(&format!("the model root is not usable: {error}")))?;
        let requested = Path::new(location);
        if requested
            .components()
            .any(|component| component == Component::ParentDir)
        {
            return Err(refuse("`..` is not allowed in a location"));
        }
        let joined = root.join(requested.strip_prefix(&root).unwrap_or(requested));
        let path = joined
            .canonicalize()
            .map_err(|_| refuse("no such file under the model root"))?;
        if !path.starts_with(&root) {
            // Said like a missing file: the answer must not tell what exists outside the root.
            return Err(refuse("no such file under the model root"));
        }
        Ok(path)
    }

    /// The bytes of the regular file at `path` (a path [`ModelSource::resolve`] gave, or one in
    /// such a directory), at most [`ModelSource::max_bytes`] of them.
    pub fn read_file(&self, path: &Path) -> Result<Vec<u8>, ModelError> {
        let (mut file, length) = self.open_file(path)?;
        let mut bytes = Vec::with_capacity(length as usize);
        (&mut file)
            .take(self.max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| refused(path, format!("cannot read: {error}")))?;
        self.check_size(bytes.len() as u64, &format!("`{}`", path.display()))?;
        Ok(bytes)
    }

    /// The regular file at `path` under the root, opened for reading, and its length (at most
    /// [`ModelSource::max_bytes`]). The file is opened without blocking and checked on the open
    /// handle, so a FIFO or device cannot stall the reader.
    pub fn open_file(&self, path: &Path) -> Result<(File, u64), ModelError> {
        let inside = match &self.root {
            Some(root) => root.canonicalize().is_ok_and(|root| path.starts_with(root)),
            None => false,
        };
        let canonical = path.canonicalize().ok();
        if !inside || canonical.as_deref() != Some(path) {
            return Err(refused(path, "no such file under the model root".into()));
        }
        let file = File::options()
            .read(true)
            .custom_flags(O_NONBLOCK | O_NOFOLLOW)
            .open(path)
            .map_err(|error| refused(path, format!("cannot open: {error}")))?;
        let metadata = file
            .metadata()
            .map_err(|error| refused(path, format!("cannot read its metadata: {error}")))?;
        if !metadata.is_file() {
            return Err(refused(path, "not a regular file".into()));
        }
        self.check_size(metadata.len(), &format!("`{}`", path.display()))?;
        Ok((file, metadata.len()))
    }

    fn check_size(&self, size: u64, what: &str) -> Result<(), ModelError> {
        if size > self.max_bytes {
            return Err(ModelError::TooLarge {
                what: what.to_owned(),
                size,
                limit: self.max_bytes,
            });
        }
        Ok(())
    }
}

/// The refusal to read `path`.
fn refused(path: &Path, reason: String) -> ModelError {
    ModelError::Location {
        location: path.display().to_string(),
        reason,
    }
}

/// `open(2)` flags: do not block on a FIFO or device, do not follow a final symbolic link.
const O_NONBLOCK: i32 = 0o4000;
const O_NOFOLLOW: i32 = 0o400000;

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("model-source-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/sub")).unwrap();
        std::fs::write(dir.join("root/model.pmml"), b"<PMML/>").unwrap();
        std::fs::write(dir.join("root/sub/big.onnx"), vec![0u8; 100]).unwrap();
        std::fs::write(dir.join("secret"), b"outside").unwrap();
        dir
    }

    fn location(descriptor_location: &str) -> ModelDescriptor {
        ModelDescriptor {
            message_content: Some(MessageContent::Location(descriptor_location.into())),
            ..ModelDescriptor::default()
        }
    }

    fn read(source: &ModelSource, at: &str) -> Result<Vec<u8>, String> {
        match source.content(&location(at)) {
            Ok(ModelContent::Bytes(bytes)) => Ok(bytes.into_owned()),
            Ok(ModelContent::Directory(path)) => Err(format!("directory {}", path.display())),
            Err(error) => Err(error.to_string()),
        }
    }

    #[test]
    fn files_under_the_root_are_read_and_nothing_else() {
        let dir = scratch("root");
        let source = ModelSource::new(Some(dir.join("root")), 50);
        assert_eq!(read(&source, "model.pmml").unwrap(), b"<PMML/>");
        let absolute = dir.join("root/model.pmml");
        assert_eq!(
            read(&source, absolute.to_str().unwrap()).unwrap(),
            b"<PMML/>"
        );
        let outside = read(&source, dir.join("secret").to_str().unwrap()).unwrap_err();
        let missing = read(&source, "nothing-here").unwrap_err();
        assert!(
            outside.contains("no such file under the model root"),
            "{outside}"
        );
        assert_eq!(
            outside.replace(dir.join("secret").to_str().unwrap(), "X"),
            missing.replace("nothing-here", "X"),
            "an outside file reads like a missing one"
        );
        assert!(read(&source, "../secret").unwrap_err().contains("`..`"));
        assert!(read(&source, "sub/big.onnx")
            .unwrap_err()
            .contains("limit of 50"));
        assert!(read(&source, "sub").unwrap_err().starts_with("directory"));
        std::os::unix::fs::symlink(dir.join("secret"), dir.join("root/link")).unwrap();
        assert!(read(&source, "link").unwrap_err().contains("no such file"));
        let refused = read(&source, "/dev/zero").unwrap_err();
        assert!(
            refused.contains("no such file under the model root"),
            "{refused}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn devices_and_fifos_under_the_root_are_refused_without_blocking() {
        let dir = scratch("fifo");
        let root = dir.join("root");
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("pipe"))
            .status()
            .unwrap();
        assert!(fifo.success());
        let source = ModelSource::new(Some(root), 1 << 20);
        assert!(read(&source, "pipe")
            .unwrap_err()
            .contains("not a regular file"));
        // The link itself stays under the root, but what it names does not.
        assert!(read(&source, "zero").unwrap_err().contains("no such file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_a_root_no_location_is_read() {
        let source = ModelSource::default();
        let refused = read(&source, "/etc/passwd").unwrap_err();
        assert!(refused.contains("--model-root"), "{refused}");
        let inline = ModelDescriptor {
            message_content: Some(MessageContent::Data(vec![1; 10])),
            ..ModelDescriptor::default()
        };
        let small = ModelSource::new(None, 9);
        let error = small.content(&inline).err().expect("refused").to_string();
        assert!(
            error.contains("10 bytes") && error.contains("limit of 9"),
            "{error}"
        );
    }
}
